/**
 * The one polling wait of the test suites: every "until X is true" goes through `waitFor` (or `until` for a boolean
 * check), so deadlines, poll intervals and timeout messages read the same everywhere.
 */

/** Default deadline of `waitFor`: generous for 2 cores, far below the jest timeout. */
const DEFAULT_WAIT_MS = 20_000;
const DEFAULT_POLL_MS = 50;

/**
 * Polls `probe` until it returns something other than `undefined`; fails with `what` after the deadline. A probe that
 * throws counts as "not yet" (e.g. a query before the first workflow task); the last error is the failure's cause.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = DEFAULT_WAIT_MS,
  pollMs = DEFAULT_POLL_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Polls `check` every 10 ms until it holds; fails with `what` after `timeoutMs`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  await waitFor(what, async () => ((await check()) ? true : undefined), timeoutMs, 10);
}
