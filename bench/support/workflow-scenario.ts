/**
 * What `floor` and `minimal` share: workflows of the bench's own (no API, no relay) started like an order — the
 * options of lib/order-workflow.ts startOrder, update-with-start of the `reservation` update — on a bench worker's
 * queue, at the same fixed concurrency as `spread` and `hot`, each awaited to its result; CPU of Temporal, that worker
 * and the PostgreSQL backends over the load and the pause after it; then the history counts of a sample.
 */
import { createHash, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { workflowInput } from '../../lib/order-workflow';
import { loadConfigOrExit } from '../../lib/config';
import { reservationUpdate, SEARCH_ATTRIBUTES } from '../../workflows/definitions';
import type { BenchOptions } from '../main';
import { numberArg } from './args';
import { cpuWindow, only } from './cpu';
import { countHistories, spreadSample } from './history';
import { closedLoop } from './load';
import { DEFAULT_CONCURRENCY, pause, phaseDurations } from './order-scenario';
import { loadReport, type LoadReport } from './report';
import type { StackProcess as ChildService } from '../../stack';

/** Which workflow a scenario runs, and where. */
export interface WorkflowScenario {
  /** Scenario name (progress label, customer and workflow id prefix). */
  name: string;
  workflowType: string;
  taskQueue: string;
  /** The bench worker polling `taskQueue`, and its name in `stack.pids()`. */
  worker: ChildService;
  workerName: string;
  /** SKU of the `index`-th operation's one line. */
  sku: (index: number) => string;
}

/** Runs one round: the closed loop, the pause, the history counts. */
export async function runWorkflowScenario(options: BenchOptions, scenario: WorkflowScenario): Promise<LoadReport> {
  const { stack, quick, args, log, round } = options;
  const { name, worker } = scenario;
  const config = loadConfigOrExit();
  const concurrency = numberArg(args, 'concurrency', DEFAULT_CONCURRENCY);
  const { client } = await stack.temporal();
  const run = randomUUID().slice(0, 8);

  const operation = async (i: number): Promise<{ acceptedMs: number; completedMs: number; workflowId: string }> => {
    const orderId = randomUUID();
    const customerId = `bench-${name}-${run}-${i % concurrency}`;
    const requestHash = createHash('sha256').update(orderId).digest('hex');
    const input = workflowInput(config, {
      orderId,
      customerId,
      lines: [{ sku: scenario.sku(i), quantity: 1 }],
      paymentToken: 'tok_ok',
      requestHash,
    });
    const workflowId = `${name}-${orderId}`;
    const startWorkflowOperation = new WithStartWorkflowOperation(scenario.workflowType, {
      workflowId,
      taskQueue: scenario.taskQueue,
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
    if (outcome.status !== 'RESERVED') throw new Error(`${name} workflow ${orderId}: reservation ${outcome.status}`);
    const handle = await startWorkflowOperation.workflowHandle();
    const result = (await handle.result()) as { status: string };
    if (result.status !== 'COMPLETED') throw new Error(`${name} workflow ${orderId} ended ${result.status}`);
    return { acceptedMs: accepted - t0, completedMs: performance.now() - t0, workflowId };
  };

  worker.resetPeakRss();
  const cpu = cpuWindow(() => only(stack.pids(), ['temporal', scenario.workerName, 'postgres']));
  await stack.refreshPostgresPids();
  cpu.start();
  const phase = await closedLoop({
    label: round.count > 1 ? `${name} ${round.index + 1}/${round.count}` : name,
    concurrency,
    ...phaseDurations(quick, round.count),
    operation,
    log,
    signal: stack.signal,
  });
  const peak = worker.peakRssMb();
  if (!(quick && options.lastInRun)) await pause(options.drainMs, stack.signal);
  await stack.refreshPostgresPids(); // backends opened meanwhile count in full
  const usage = cpu.stop();
  if (stack.signal.aborted) throw stack.signal.reason;
  for (const sample of phase.errorSamples) log(`   error: ${sample}`);
  if (phase.completed === 0) throw new Error(`no workflow completed; first error: ${phase.errorSamples[0] ?? 'none'}`);
  const report = loadReport('workflows', concurrency, phase, { [scenario.workerName]: peak }, usage);
  const history = await countHistories(client, spreadSample(phase.workflowIds));
  return history === undefined ? report : { ...report, history };
}
