/** The polling waits of the suites: stack/ready.ts's `waitUntil`, with the suites' defaults. */
import { waitUntil } from '../../stack/ready';

/**
 * Polls `probe` until it returns something other than `undefined` (or `false`); fails with `what` after `timeoutMs`
 * (generous for 2 cores, far below jest's). A probe that throws (a query before the first workflow task) counts as
 * "not yet".
 */
export function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
  pollMs = 50,
): Promise<T> {
  return waitUntil(what, probe, timeoutMs, { pollMs, retryErrors: true });
}

/** Polls `check` every 10 ms until it holds; fails with `what` after `timeoutMs`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  await waitUntil(what, check, timeoutMs, { pollMs: 10, retryErrors: true });
}
