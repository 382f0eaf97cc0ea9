/** Timed waits of the tooling (bench, chaos run): node's promise timers, under the names the callers read best. */
import { setTimeout as delay } from 'node:timers/promises';

/** Waits `ms`. */
export const sleep = (ms: number): Promise<void> => delay(ms);

/** Waits `ms` (e.g. the pause after a load phase), or less if `signal` aborts; never rejects. */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms > 0) await delay(ms, undefined, { signal }).catch(() => undefined);
}
