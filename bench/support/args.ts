/** Command-line options as the scenarios read them (`--name=value`; bench/main.ts has already checked them). */

/** A positive number option, or `fallback` when absent. */
export function numberArg(args: readonly string[], name: string, fallback: number): number {
  const raw = args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got "${raw}"`);
  return value;
}

/** True when `--name` is given. */
export function flagArg(args: readonly string[], name: string): boolean {
  return args.includes(`--${name}`);
}
