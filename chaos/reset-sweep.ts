/**
 * The reset sweep (issue 15): every way an order can end, then a Temporal Reset of its finished workflow to EVERY
 * completed workflow task, with and without the later signals re-applied, as an operator does from the UI (`temporal
 * workflow reset --event-id N [--reapply-exclude Signal]`). After every reset run closes, the books must still agree:
 * COMPLETED ⇔ the total captured once (a zero-total order: no payment) ⇔ every unit committed; lib/invariants.ts
 * holds; the `orders` row = the newest event = the run's `OrderStatus` search attribute = its result; seqs increase.
 * Run by `npm run reset-sweep` (every path) and test/integration/reset-sweep.test.ts (a subset).
 */
import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { Knex } from 'knex';
import { OUTAGE_SWITCH, setGatewaySwitch, TEST_TOKENS } from '../activities/payments';
import { messageOf } from '../lib/error-text';
import type { Config } from '../lib/config';
import { TABLES } from '../lib/db';
import { checkInvariants } from '../lib/invariants';
import type { EventRow, OrderRow } from '../lib/rows';
import {
  cancelSignal,
  isTerminal,
  retryPaymentSignal,
  SEARCH_ATTRIBUTES,
  statusQuery,
  WORKFLOW_TYPE,
  workflowIdFor,
  type CancelSignalArgs,
  type OrderStatus,
  type OrderWorkflowInput,
  type OrderWorkflowResult,
} from '../workflows/definitions';
import type { orderWorkflow } from '../workflows/order';
import { orderInput, startOrder, type SagaHarness } from '../test/support/saga-helpers';
import { insertProducts } from '../test/support/services';
import { waitFor } from '../test/support/wait';

/** How long the sweep waits for one step of a run (loaded 2-core machines). */
const STEP_WAIT_MS = 30_000;
const { EventType, ResetReapplyExcludeType } = temporal.api.enums.v1;
type EventId = temporal.api.history.v1.IHistoryEvent['eventId'];
type OrderHandle = WorkflowHandle<typeof orderWorkflow>;

/** What the sweep runs against: a worker on `config.temporal.taskQueue` whose activities `hold` can pause. */
export interface SweepWorld extends Pick<SagaHarness, 'client' | 'db' | 'config'> {
  /** Makes the next call of `activity` for `orderId` wait until `release()`; `reached` once it was called. */
  hold: (orderId: string, activity: string) => { reached: Promise<void>; release(): void };
}

/** How a reset treats the signals the base run received after the reset point. */
export type ReapplyMode = 'with-signals' | 'without-signals';
/** Both modes, in the order the sweep runs them. */
export const REAPPLY_MODES: readonly ReapplyMode[] = ['with-signals', 'without-signals'];

/** `resetReapplyExcludeTypes` of each mode (the CLI's `--reapply-exclude Signal`). */
const EXCLUDED_ON_REAPPLY: Record<ReapplyMode, temporal.api.enums.v1.ResetReapplyExcludeType[]> = {
  'with-signals': [],
  'without-signals': [ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL],
};

/** Units ordered by every sweep order, out of `SWEEP_INITIAL_STOCK`. */
export const SWEEP_QUANTITY = 2;
/** Stock of each sweep order's own product. */
export const SWEEP_INITIAL_STOCK = 10;
/** Unit price of the products of the paid paths. */
const SWEEP_PRICE_CENTS = 1250;
/** A reset run left in NEEDS_ATTENTION without the operator's signal ends by itself; the drivers send theirs sooner. */
const SWEEP_ATTENTION_TIMEOUT_MS = 3_000;
/** A cancel reason of the sweep's own, so the events show who cancelled. */
const SWEEP_CANCEL = { reason: 'reset sweep cancel' };

/** One placed sweep order. */
export interface SweepOrder {
  path: string;
  orderId: string;
  workflowId: string;
  /** The run that ran the path to its end: the base of every reset. */
  baseRunId: string;
  sku: string;
  quantity: number;
}

/** One way an order can end: its token, its price and how it is driven to its end (returns the finished handle). */
export interface SweepPath {
  name: string;
  token: string;
  /** Unit price of its product. @default SWEEP_PRICE_CENTS */
  priceCents?: number;
  drive(ctx: { world: SweepWorld; input: OrderWorkflowInput; start: () => Promise<OrderHandle> }): Promise<OrderHandle>;
}

/** Waits until the order's row shows `status` for the `count`-th time in its events. */
async function waitForRecorded(db: Knex, orderId: string, status: OrderStatus, count = 1): Promise<void> {
  await waitFor(
    `order ${orderId} recorded ${status} (x${count})`,
    async () => {
      const seen = await db(TABLES.orderEvents).where({ order_id: orderId, status }).count<{ n: string }[]>('* as n');
      if (Number(seen[0]?.n ?? 0) < count) return undefined;
      const row = await db<OrderRow>(TABLES.orders).where('id', orderId).first('status');
      return row?.status === status ? true : undefined;
    },
    STEP_WAIT_MS,
  );
}

/** Waits until the `status` query shows the cancel and no workflow task is pending (its local activities done too). */
async function waitForCancelTaken(handle: WorkflowHandle): Promise<void> {
  await waitFor(
    `cancel taken by ${handle.workflowId}`,
    async () => {
      const view = await handle.query(statusQuery);
      if (!view.cancelRequested) return undefined;
      const described = await handle.describe();
      return described.raw.pendingWorkflowTask ? undefined : true;
    },
    STEP_WAIT_MS,
  );
}

/** A move of a scripted driver: the outage switch, start, a signal, or wait for a status (once more each time). */
type SweepAction = 'gatewayDown' | 'gatewayUp' | 'start' | 'retryPayment' | 'cancel' | OrderStatus;

/** A driver playing `script` (starting the order first unless it says when) to the end; it leaves the gateway up. */
function scripted(...script: SweepAction[]): SweepPath['drive'] {
  return async ({ world, input, start }) => {
    let handle = script.includes('start') ? undefined : await start();
    const started = (): OrderHandle => {
      if (handle === undefined) throw new Error('the script signals an order it has not started');
      return handle;
    };
    const recorded = new Map<SweepAction, number>();
    try {
      for (const action of script) {
        if (action === 'start') handle = await start();
        else if (action === 'gatewayDown' || action === 'gatewayUp') {
          await setGatewaySwitch(world.db, OUTAGE_SWITCH, action === 'gatewayDown');
        } else if (action === 'retryPayment') await started().signal(retryPaymentSignal);
        else if (action === 'cancel') await started().signal(cancelSignal, SWEEP_CANCEL);
        else {
          recorded.set(action, (recorded.get(action) ?? 0) + 1);
          await waitForRecorded(world.db, input.orderId, action, recorded.get(action));
        }
      }
    } finally {
      if (script.includes('gatewayDown')) await setGatewaySwitch(world.db, OUTAGE_SWITCH, false);
    }
    await started().result();
    return started();
  };
}

/** Every path of issue 15's sweep, plus a zero-total order. */
export const SWEEP_PATHS: readonly SweepPath[] = [
  { name: 'tok_ok', token: TEST_TOKENS.ok, drive: scripted() },
  { name: 'tok_decline', token: TEST_TOKENS.decline, drive: scripted() },
  { name: 'tok_flaky', token: TEST_TOKENS.flaky, drive: scripted() },
  { name: 'zero_total', token: TEST_TOKENS.ok, priceCents: 0, drive: scripted() },
  {
    // The gateway is down, the order waits in NEEDS_ATTENTION, the gateway comes back, the operator sends retryPayment.
    name: 'unavailable_then_retryPayment',
    token: TEST_TOKENS.ok,
    drive: scripted('gatewayDown', 'start', 'NEEDS_ATTENTION', 'gatewayUp', 'retryPayment'),
  },
  {
    // tok_unavailable never succeeds: retryPayment spends a second budget, then the operator cancels.
    name: 'unavailable_retryPayment_then_cancel',
    token: TEST_TOKENS.unavailable,
    drive: scripted('NEEDS_ATTENTION', 'retryPayment', 'NEEDS_ATTENTION', 'cancel'),
  },
  {
    // The cancel arrives with the start (signal-with-start): the workflow sees it before anything is recorded.
    name: 'cancel_in_PENDING',
    token: TEST_TOKENS.ok,
    async drive({ world, input }) {
      const handle = await world.client.workflow.signalWithStart<typeof orderWorkflow, [CancelSignalArgs?]>(
        WORKFLOW_TYPE,
        {
          taskQueue: world.config.temporal.taskQueue,
          workflowId: workflowIdFor(input.orderId),
          args: [input],
          signal: cancelSignal,
          signalArgs: [SWEEP_CANCEL],
        },
      );
      await handle.result();
      return world.client.workflow.getHandle<typeof orderWorkflow>(handle.workflowId, handle.signaledRunId);
    },
  },
  {
    // Reserved, the charge not started yet (held before it runs): the cancel is taken in, then the charge may run.
    name: 'cancel_in_RESERVED',
    token: TEST_TOKENS.ok,
    async drive({ world, input, start }) {
      const held = world.hold(input.orderId, 'chargeOrder');
      const handle = await start();
      try {
        await held.reached;
        await handle.signal(cancelSignal, SWEEP_CANCEL);
        await waitForCancelTaken(handle);
      } finally {
        held.release();
      }
      await handle.result();
      return handle;
    },
  },
  // tok_slow: the charge is at the gateway when the cancel lands; it is approved, then refunded.
  { name: 'cancel_in_CHARGING', token: TEST_TOKENS.slow, drive: scripted('CHARGING', 'cancel') },
  { name: 'cancel_in_NEEDS_ATTENTION', token: TEST_TOKENS.unavailable, drive: scripted('NEEDS_ATTENTION', 'cancel') },
];

/** The sweep path named `name`; throws on an unknown one. */
export function sweepPath(name: string): SweepPath {
  const found = SWEEP_PATHS.find((p) => p.name === name);
  if (found === undefined)
    throw new Error(`unknown sweep path ${name}; known: ${SWEEP_PATHS.map((p) => p.name).join(', ')}`);
  return found;
}

/** An order input as the API builds it, with the sweep's short attention timeout. */
export function sweepInput(config: Config, sku: string, quantity: number, token: string): OrderWorkflowInput {
  const input = orderInput(config, [{ sku, quantity }], token, { attentionTimeoutMs: SWEEP_ATTENTION_TIMEOUT_MS });
  return { ...input, customerId: `sweep-${input.orderId.slice(0, 8)}` };
}

/** Creates a product of the path's own (stock `SWEEP_INITIAL_STOCK`) and runs one order of the path to its end. */
export async function placeAndFinish(world: SweepWorld, path: SweepPath): Promise<SweepOrder> {
  const sku = `SWEEP-${path.name.toUpperCase().replace(/[^A-Z0-9]/g, '')}-${randomUUID().slice(0, 8).toUpperCase()}`;
  await insertProducts(world.db, [
    { sku, stock: SWEEP_INITIAL_STOCK, priceCents: path.priceCents ?? SWEEP_PRICE_CENTS },
  ]);
  const input = sweepInput(world.config, sku, SWEEP_QUANTITY, path.token);
  const handle = await path.drive({ world, input, start: () => startOrder(world.client, world.config, input) });
  const { workflowId, runId: baseRunId } = await handle.describe();
  return { path: path.name, orderId: input.orderId, workflowId, baseRunId, sku, quantity: SWEEP_QUANTITY };
}

/** Event ids of every WorkflowTaskCompleted event of one run, oldest first. */
export async function completedWorkflowTasks(client: Client, workflowId: string, runId: string): Promise<EventId[]> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  return (history.events ?? [])
    .filter((event) => event.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    .map((event) => event.eventId);
}

/** Resets a run to the task completed at `eventId` (default: its first), as `temporal workflow reset`; the new run. */
export async function resetRun(
  client: Client,
  execution: { workflowId: string; runId: string },
  { eventId, mode = 'with-signals', reason }: { eventId?: EventId; mode?: ReapplyMode; reason: string },
): Promise<string> {
  const finishedAt = eventId ?? (await completedWorkflowTasks(client, execution.workflowId, execution.runId))[0];
  const { runId } = await client.workflowService.resetWorkflowExecution({
    namespace: client.options.namespace,
    workflowExecution: execution,
    reason,
    workflowTaskFinishEventId: finishedAt,
    requestId: randomUUID(),
    resetReapplyExcludeTypes: EXCLUDED_ON_REAPPLY[mode],
  });
  return runId;
}

/** How one run of an order ended: its result, or why it has none. */
export type RunOutcome = { result: OrderWorkflowResult } | { error: string };

/** Waits for one run to close. */
export async function runOutcome(client: Client, workflowId: string, runId: string): Promise<RunOutcome> {
  try {
    const handle = client.workflow.getHandle<typeof orderWorkflow>(workflowId, runId, { followRuns: false });
    return { result: await handle.result() };
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return { error: `${messageOf(error)}${cause}` };
  }
}

/** What is wrong with the books of one order once run `runId` closed (empty: all agree, as the header says). */
export async function checkOrder(
  world: SweepWorld,
  order: SweepOrder,
  runId: string,
  outcome: RunOutcome,
): Promise<string[]> {
  const { db, client } = world;
  const problems: string[] = [];
  if ('error' in outcome) problems.push(`run did not complete with a result: ${outcome.error}`);
  const [row, events, committed, described] = await Promise.all([
    db<OrderRow>(TABLES.orders).where('id', order.orderId).first('status'),
    db<EventRow>(TABLES.orderEvents).where('order_id', order.orderId).orderBy('id').select('seq', 'status'),
    db(TABLES.stockReservations)
      .where({ order_id: order.orderId, status: 'committed' })
      .sum<{ units: string | null }[]>('quantity as units'),
    client.workflow.getHandle(order.workflowId, runId).describe(),
  ]);
  if (row === undefined) return [...problems, 'no orders row'];

  const last = [...events].sort((a, b) => b.seq - a.seq)[0];
  const attribute = described.typedSearchAttributes.get(SEARCH_ATTRIBUTES.orderStatus);
  const resultStatus = 'result' in outcome ? outcome.result.status : undefined;
  const statuses = { row: row.status, lastEvent: last?.status, searchAttribute: attribute, result: resultStatus };
  if (new Set(Object.values(statuses)).size !== 1) problems.push(`statuses disagree: ${JSON.stringify(statuses)}`);
  events.forEach((after, i) => {
    const before = events[i - 1];
    if (before !== undefined && after.seq <= before.seq) {
      problems.push(`seq does not increase: ${before.status}#${before.seq} then ${after.status}#${after.seq}`);
    }
  });
  const units = Number(committed[0]?.units ?? 0);
  if (row.status === 'COMPLETED' && units !== order.quantity) {
    problems.push(`COMPLETED with ${units}/${order.quantity} units committed`);
  }
  if (!isTerminal(row.status)) problems.push(`closed run left the order ${row.status}`);

  const scope = { initialStock: new Map([[order.sku, SWEEP_INITIAL_STOCK]]), orderIds: [order.orderId] };
  const violations = await checkInvariants(db, scope);
  return [...problems, ...violations.map((v) => `${v.invariant}: ${v.message}`)];
}

/** One reset of the sweep and what it found; no `eventId` (the WorkflowTaskCompleted reset to): the base run. */
export interface SweepStep {
  path: string;
  orderId: string;
  eventId: number | undefined;
  mode: ReapplyMode | undefined;
  runId: string;
  status?: string;
  problems: string[];
}

/** What to sweep (default: every path, both modes); `onStep` is told of each step as it ends. */
export interface SweepOptions {
  paths?: readonly SweepPath[];
  modes?: readonly ReapplyMode[];
  onStep?: (step: SweepStep, done: number) => void;
}

/** Runs each path to its end, then resets it to every completed workflow task in every mode; returns every step. */
export async function runResetSweep(world: SweepWorld, options: SweepOptions = {}): Promise<SweepStep[]> {
  const steps: SweepStep[] = [];
  /** Checks the run `runOf` names (the base run, or a reset's new run) once it closed, and records the step. */
  const check = async (order: SweepOrder, at: Pick<SweepStep, 'eventId' | 'mode'>, runOf: () => Promise<string>) => {
    const step: SweepStep = { path: order.path, orderId: order.orderId, ...at, runId: '', problems: [] };
    try {
      step.runId = await runOf();
      const outcome = await runOutcome(world.client, order.workflowId, step.runId);
      step.status = 'result' in outcome ? outcome.result.status : undefined;
      step.problems = await checkOrder(world, order, step.runId, outcome);
    } catch (error) {
      step.problems = [`${at.eventId === undefined ? 'check' : 'reset'} failed: ${messageOf(error)}`];
    }
    steps.push(step);
    options.onStep?.(step, steps.length);
  };
  for (const path of options.paths ?? SWEEP_PATHS) {
    const order = await placeAndFinish(world, path);
    await check(order, { eventId: undefined, mode: undefined }, () => Promise.resolve(order.baseRunId));
    const base = { workflowId: order.workflowId, runId: order.baseRunId };
    for (const eventId of await completedWorkflowTasks(world.client, base.workflowId, base.runId)) {
      for (const mode of options.modes ?? REAPPLY_MODES) {
        const reason = `reset sweep: ${order.path} to event ${String(eventId)} ${mode}`;
        await check(order, { eventId: Number(eventId), mode }, () =>
          resetRun(world.client, base, { eventId, mode, reason }),
        );
      }
    }
  }
  return steps;
}

/** One line per step, for progress output. */
export function formatStep(step: SweepStep): string {
  const where = step.eventId === undefined ? 'base run' : `reset to WFT event ${step.eventId} ${step.mode}`;
  const verdict = step.problems.length === 0 ? 'ok' : `VIOLATION: ${step.problems.join('; ')}`;
  return `${step.path} ${where} -> ${step.status ?? 'no result'}: ${verdict}`;
}

/** The sweep's summary: steps per path, and every violation. */
export function formatSummary(steps: readonly SweepStep[]): string {
  const lines: string[] = ['', 'reset sweep summary'];
  const byPath = new Map<string, SweepStep[]>();
  for (const step of steps) byPath.set(step.path, [...(byPath.get(step.path) ?? []), step]);
  for (const [path, runs] of byPath) {
    const bad = runs.filter((s) => s.problems.length > 0).length;
    const ends = [...new Set(runs.map((s) => s.status ?? 'no result'))].join('/');
    lines.push(`  ${path.padEnd(38)} ${String(runs.length).padStart(3)} runs, ${bad} with violations (ends: ${ends})`);
  }
  const violations = steps.filter((s) => s.problems.length > 0);
  lines.push(`  total: ${steps.length} runs, ${violations.length} with violations`);
  for (const step of violations) lines.push(`  - ${formatStep(step)} [order ${step.orderId}, run ${step.runId}]`);
  return lines.join('\n');
}
