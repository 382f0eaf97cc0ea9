/**
 * The reconciliation Schedule (`orderflow-reconcile`, under Schedules in the Temporal UI, `temporal schedule list`):
 * starts `reconcileWorkflow` (workflows/reconcile.ts) on the order task queue every `RECONCILE_INTERVAL`. Created by
 * every set-up (temporal-config/setup.ts, `npm start`), idempotently: an existing schedule is updated to the
 * configured interval and task queue, never duplicated.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';

/** Id of the reconciliation schedule in the namespace. */
export const RECONCILE_SCHEDULE_ID = 'orderflow-reconcile';

/** Workflow type the schedule starts (the exported function in workflows/reconcile.ts). */
export const RECONCILE_WORKFLOW_TYPE = 'reconcileWorkflow';

/** Options of `ensureReconcileSchedule`. */
export interface ReconcileScheduleOptions {
  /** Task queue of the order workers (they run the reconciliation too). */
  taskQueue: string;
  /** `RECONCILE_INTERVAL`, in milliseconds. */
  intervalMs: number;
  /** @default RECONCILE_SCHEDULE_ID (tests use one of their own per task queue) */
  scheduleId?: string;
}

/**
 * Creates the schedule, or brings an existing one to `intervalMs` and `taskQueue`. Returns 'created' or 'updated'.
 * Overlapping runs are skipped: a slow pass is never doubled.
 */
export async function ensureReconcileSchedule(
  client: Client,
  { taskQueue, intervalMs, scheduleId = RECONCILE_SCHEDULE_ID }: ReconcileScheduleOptions,
): Promise<'created' | 'updated'> {
  const action = {
    type: 'startWorkflow' as const,
    workflowType: RECONCILE_WORKFLOW_TYPE,
    workflowId: `${scheduleId}-run`,
    taskQueue,
    args: [],
  };
  const spec = { intervals: [{ every: intervalMs }] };
  try {
    await client.schedule.create({
      scheduleId,
      spec,
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: intervalMs },
      memo: { purpose: 'OrderFlow reconciliation: settles orders whose workflow closed early (docs/saga.md)' },
    });
    return 'created';
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
  await client.schedule.getHandle(scheduleId).update((previous) => ({
    ...previous,
    spec,
    action,
    policies: { ...previous.policies, overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: intervalMs },
  }));
  return 'updated';
}
