/**
 * Temporal's ceiling on this machine: `floorWorkflow` (bench/floor/workflow.ts) — the saga's happy path with the same
 * update, activities and search-attribute upserts, all side effects removed — on its own task queue, run by a worker
 * process built like the real one, started like an order (update-with-start of the `reservation` update) and waited
 * for to completion, at the same fixed concurrency as `spread` and `hot`. Its workflows/s is the denominator of the
 * `spread` goal.
 */
import { createHash, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { workflowInput } from '../../api/order-workflow';
import { loadConfigOrExit } from '../../lib/config';
import { reservationUpdate, SEARCH_ATTRIBUTES } from '../../workflows/definitions';
import { FLOOR_WORKFLOW_TYPE } from '../floor/workflow';
import type { BenchOptions, ScenarioResult } from '../main';
import { numberArg } from '../support/args';
import { cpuWindow, only } from '../support/cpu';
import { closedLoop } from '../support/load';
import { DEFAULT_CONCURRENCY, pause, phaseDurations } from '../support/order-scenario';
import { loadFigures, loadReport } from '../support/report';

/** Runs the scenario. */
export async function run(options: BenchOptions): Promise<ScenarioResult> {
  const { stack, quick, args, log, round } = options;
  const config = loadConfigOrExit();
  const concurrency = numberArg(args, 'concurrency', DEFAULT_CONCURRENCY);
  const [worker, { client }] = await Promise.all([stack.floorWorker(), stack.temporal()]);
  const run = randomUUID().slice(0, 8);

  const operation = async (i: number): Promise<{ acceptedMs: number; completedMs: number }> => {
    const orderId = randomUUID();
    const customerId = `bench-floor-${run}-${i % concurrency}`;
    const requestHash = createHash('sha256').update(orderId).digest('hex');
    const input = workflowInput(config, {
      orderId,
      customerId,
      lines: [{ sku: 'FLOOR', quantity: 1 }],
      paymentToken: 'tok_ok',
      requestHash,
    });
    // The options of api/order-workflow.ts startOrder, on the floor's workflow type and queue.
    const startWorkflowOperation = new WithStartWorkflowOperation(FLOOR_WORKFLOW_TYPE, {
      workflowId: `floor-${orderId}`,
      taskQueue: stack.floorTaskQueue,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: [
        { key: SEARCH_ATTRIBUTES.orderStatus, value: 'PENDING' },
        { key: SEARCH_ATTRIBUTES.customerId, value: customerId },
      ],
    });
    const t0 = performance.now();
    const outcome = await client.workflow.executeUpdateWithStart(reservationUpdate, {
      args: [{ requestHash }],
      updateId: `reservation-${requestHash}`,
      startWorkflowOperation,
    });
    const accepted = performance.now();
    if (outcome.status !== 'RESERVED') throw new Error(`floor workflow ${orderId}: reservation ${outcome.status}`);
    const handle = await startWorkflowOperation.workflowHandle();
    const result = (await handle.result()) as { status: string };
    if (result.status !== 'COMPLETED') throw new Error(`floor workflow ${orderId} ended ${result.status}`);
    return { acceptedMs: accepted - t0, completedMs: performance.now() - t0 };
  };

  worker.resetPeakRss();
  const cpu = cpuWindow(() => only(stack.pids(), ['temporal', 'floor worker']));
  cpu.start();
  const phase = await closedLoop({
    label: round.count > 1 ? `floor ${round.index + 1}/${round.count}` : 'floor',
    concurrency,
    ...phaseDurations(quick, round.count),
    operation,
    log,
    signal: stack.signal,
  });
  const peak = worker.peakRssMb();
  if (!(quick && options.lastInRun)) await pause(options.drainMs, stack.signal);
  const usage = cpu.stop();
  if (stack.signal.aborted) throw stack.signal.reason;
  for (const sample of phase.errorSamples) log(`   error: ${sample}`);
  if (phase.completed === 0) throw new Error(`no workflow completed; first error: ${phase.errorSamples[0] ?? 'none'}`);
  const report = loadReport('workflows', concurrency, phase, { 'floor worker': peak }, usage);
  return { scenario: 'floor', figures: loadFigures(report), load: report };
}
