/** Command-line options of the bench (`--name=value`, repeatable ones collected in order). */

/** A positive number option, or `fallback` when absent. */
export function numberArg(args: readonly string[], name: string, fallback: number): number {
  const raw = args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got "${raw}"`);
  return value;
}

/** A number option that may be 0, or `fallback` when absent. */
export function nonNegativeArg(args: readonly string[], name: string, fallback: number): number {
  const raw = args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number >= 0, got "${raw}"`);
  return value;
}

/** Every value of a repeatable option, in order. */
export function listArg(args: readonly string[], name: string): string[] {
  return args.filter((arg) => arg.startsWith(`--${name}=`)).map((arg) => arg.slice(name.length + 3));
}

/** True when `--name` is given. */
export function flagArg(args: readonly string[], name: string): boolean {
  return args.includes(`--${name}`);
}
