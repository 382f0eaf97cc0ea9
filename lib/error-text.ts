/**
 * How tooling and entry points turn a caught `unknown` into text: anything can be thrown, so a non-Error is
 * printed with `String`.
 */

/** The error's message (for one-line reports and records). */
export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The error's stack, else its message (for failures nobody expected, where the place it came from matters). */
export const stackOf = (error: unknown): string =>
  error instanceof Error ? (error.stack ?? error.message) : String(error);
