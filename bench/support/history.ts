/**
 * What Temporal records per operation (issue 16's shape figures): the histories of a sample of a round's workflows,
 * fetched once its load is over (outside its CPU window), counted per workflow.
 */
import type { Client } from '@temporalio/client';
import { round } from './stats';

/** Marker name the TypeScript SDK (core) records for each local activity. */
const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

/** Workflows whose histories a scenario round fetches (evenly spread over its completed operations). */
export const HISTORY_SAMPLE = 20;

/**
 * Mean counts per workflow over `sampled` histories: workflow tasks (`WorkflowTaskCompleted`), activity tasks
 * (`ActivityTaskScheduled`), local activities (their markers) and events; `maxEvents` shows a retried task first.
 */
export interface HistoryCounts {
  sampled: number;
  workflowTasks: number;
  activityTasks: number;
  localActivities: number;
  events: number;
  maxEvents: number;
}

/** Up to `count` ids spread evenly over `ids` (warm-up, steady state and tail all represented). */
export function spreadSample(ids: readonly string[], count = HISTORY_SAMPLE): string[] {
  if (ids.length <= count) return [...ids];
  return Array.from({ length: count }, (_, i) => ids[Math.floor((i * ids.length) / count)] ?? '').filter(Boolean);
}

/** Fetches the histories of `workflowIds` and averages their counts; undefined when there is none. */
export async function countHistories(
  client: Client,
  workflowIds: readonly string[],
): Promise<HistoryCounts | undefined> {
  const counts: HistoryCounts[] = [];
  for (const workflowId of workflowIds) {
    const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const count = (test: (event: (typeof events)[number]) => unknown): number => events.filter(test).length;
    counts.push({
      sampled: 1,
      workflowTasks: count((event) => event.workflowTaskCompletedEventAttributes),
      activityTasks: count((event) => event.activityTaskScheduledEventAttributes),
      localActivities: count((event) => event.markerRecordedEventAttributes?.markerName === LOCAL_ACTIVITY_MARKER),
      events: events.length,
      maxEvents: events.length,
    });
  }
  return mergeHistoryCounts(counts);
}

/** Merges the counts of several histories or rounds, weighted by how many histories each sampled. */
export function mergeHistoryCounts(counts: readonly (HistoryCounts | undefined)[]): HistoryCounts | undefined {
  const present = counts.filter((c): c is HistoryCounts => c !== undefined);
  const n = present.reduce((sum, c) => sum + c.sampled, 0);
  if (n === 0) return undefined;
  const mean = (pick: (c: HistoryCounts) => number): number =>
    round(present.reduce((sum, c) => sum + pick(c) * c.sampled, 0) / n, 1);
  return {
    sampled: n,
    workflowTasks: mean((c) => c.workflowTasks),
    activityTasks: mean((c) => c.activityTasks),
    localActivities: mean((c) => c.localActivities),
    events: mean((c) => c.events),
    maxEvents: Math.max(...present.map((c) => c.maxEvents)),
  };
}

/** `workflow tasks / activity tasks / local activities / events`, as the table prints it. */
export function formatCounts(counts: HistoryCounts | undefined): string {
  return counts === undefined
    ? '-'
    : `${counts.workflowTasks}/${counts.activityTasks}/${counts.localActivities}/${counts.events}`;
}
