/** The current activity attempt, as the steps that bound their own waits need it (saga-steps.ts, exports.ts). */
import { activityInfo } from '@temporalio/activity';

/**
 * This activity attempt: its number (1 for the first) and its start-to-close timeout in ms (Infinity when none);
 * `{ attempt: 1, startToCloseMs: Infinity }` when called outside an activity (tests).
 */
export function currentAttempt(): { attempt: number; startToCloseMs: number } {
  try {
    const { attempt, startToCloseTimeoutMs } = activityInfo();
    return { attempt, startToCloseMs: startToCloseTimeoutMs > 0 ? startToCloseTimeoutMs : Infinity };
  } catch {
    return { attempt: 1, startToCloseMs: Infinity };
  }
}
