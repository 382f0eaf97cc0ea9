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

/**
 * The workflow run a charge acts for, and the event key prefix it records under: the run this activity attempt
 * belongs to (`activityInfo().workflowExecution.runId`). An activity scheduled before a Reset point is carried into
 * the new run with the input the replaced run gave it; it then acts for the new run: it reads the new run's cancel
 * mark, not the replaced run's, and records under the new run id with the same step number (the new run's own
 * step counter has passed it). Outside an activity (tests), and when the prefix is not `<input.runId>/...`: the
 * input's own.
 */
export function runningRun(input: { runId: string; eventKeyPrefix: string }): {
  runId: string;
  eventKeyPrefix: string;
} {
  const runId = activityRun()?.runId;
  const ownPrefix = `${input.runId}/`;
  if (!runId || runId === input.runId || !input.eventKeyPrefix.startsWith(ownPrefix)) return input;
  return { runId, eventKeyPrefix: `${runId}/${input.eventKeyPrefix.slice(ownPrefix.length)}` };
}

/** The workflow execution this activity attempt belongs to; undefined outside an activity (tests) or a workflow. */
export function activityRun(): { workflowId: string; runId: string } | undefined {
  try {
    return activityInfo().workflowExecution;
  } catch {
    return undefined;
  }
}
