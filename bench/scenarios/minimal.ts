/**
 * Temporal's own ceiling on this machine: `minimalWorkflow` (bench/minimal/workflow.ts) — update-with-start answered
 * in the first workflow task, ONE activity doing the order's database work in one transaction (reserve, payment row,
 * commit, COMPLETED event, on 1,000 bench products), completion — on its own queue and worker process, started and
 * awaited like `floor`, at the same concurrency. Goal, in the same run: spread orders/s >= 0.5 x minimal workflows/s.
 */
import type { Knex } from 'knex';
import { TABLES } from '../../lib/db';
import type { BenchOptions, GoalCheck, ScenarioResult } from '../main';
import { MINIMAL_WORKFLOW_TYPE } from '../minimal/workflow';
import { createProducts } from '../support/catalog';
import { loadFigures, rate } from '../support/report';
import { round } from '../support/stats';
import { runWorkflowScenario } from '../support/workflow-scenario';

const GOAL_RATIO = 0.5;
const SKUS = 1000;
/** Stock of every minimal product: far more than a run can take. */
const AMPLE_STOCK = 10_000_000;

/** Removes what the minimal wrote on `skus` (a database the bench does not own): its rows, then the products. */
async function removeMinimalRows(db: Knex, skus: readonly string[]): Promise<void> {
  const products = db(TABLES.products).select('id').whereIn('sku', skus);
  const orders = db(TABLES.stockReservations).select('order_id').whereIn('product_id', products.clone());
  await db(TABLES.payments).whereIn('order_id', orders.clone()).delete();
  await db(TABLES.orderEvents).whereIn('order_id', orders.clone()).delete();
  await db(TABLES.stockReservations).whereIn('product_id', products.clone()).delete();
  await db(TABLES.products).whereIn('sku', skus).delete();
}

/** Runs one round of the scenario. */
export async function run(options: BenchOptions): Promise<ScenarioResult> {
  const { stack } = options;
  const skus = await createProducts(
    stack.db,
    `BENCH-MINIMAL-${options.round.index}-${Date.now().toString(36).toUpperCase()}`,
    SKUS,
    AMPLE_STOCK,
  );
  try {
    const report = await runWorkflowScenario(options, {
      name: 'minimal',
      workflowType: MINIMAL_WORKFLOW_TYPE,
      taskQueue: stack.minimalTaskQueue,
      worker: await stack.minimalWorker(),
      workerName: 'minimal worker',
      sku: (i) => skus[Math.floor(Math.random() * skus.length)] ?? skus[i % skus.length] ?? '',
    });
    return { scenario: 'minimal', figures: loadFigures(report), load: report };
  } finally {
    if (!stack.ownDatabase) await removeMinimalRows(stack.db, skus);
  }
}

/** The goal of spread against this ceiling, once every round of every scenario ran (reported on `minimal`). */
export function goal(self: ScenarioResult, all: readonly ScenarioResult[]): GoalCheck {
  const spread = all.find((result) => result.scenario === 'spread')?.load;
  const ratio = spread === undefined || self.load === undefined ? undefined : rate(spread) / rate(self.load);
  return {
    goal: `spread >= ${GOAL_RATIO} x minimal workflows/s`,
    ...(ratio === undefined ? {} : { goalMet: ratio >= GOAL_RATIO }),
    figures: { 'ratio spread/minimal': ratio === undefined ? 'spread not run' : round(ratio) },
  };
}
