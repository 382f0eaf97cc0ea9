/**
 * Reservation throughput on ONE hot SKU with 16 concurrent callers: our `reserveStock` (knex, merging, validation,
 * idempotency check) against the same transaction hand-written as plain statements on a raw `pg.Pool`, in
 * alternating rounds. Every reservation serialises on the product row lock, so the ratio is what our layer costs on
 * top of the bare SQL. Goal: ours >= 0.6 x baseline.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { createInventoryActivities } from '../../activities/inventory';
import { loadConfigOrExit } from '../../lib/config';
import { createDb, TABLES } from '../../lib/db';
import { checkInvariants } from '../../lib/invariants';
import { insertProductsWithLedger } from '../../lib/ledger';
import { createLogger } from '../../lib/logger';
import type { BenchOptions, ScenarioResult } from '../contract';
import { insertBenchOrders, removeBenchRows } from '../support/catalog';
import { timedCalls } from '../support/load';
import { machineFigures, round } from '../support/stats';

const CALLERS = 16;
const GOAL_RATIO = 0.6;
const PRICE_CENTS = 999;

/** The baseline: `reserveStock`'s reads, locks and writes for one line, one plain statement per step on raw `pg`. */
function baselineReserve(pool: pg.Pool, sku: string): (orderId: string) => Promise<void> {
  return async (orderId) => {
    const existing = await pool.query(
      `SELECT r.product_id FROM ${TABLES.stockReservations} r
         JOIN ${TABLES.orderItems} i ON i.order_id = r.order_id AND i.product_id = r.product_id
        WHERE r.order_id = $1`,
      [orderId],
    );
    if (existing.rowCount !== 0) throw new Error(`baseline order ${orderId} was already reserved`);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const locked = await client.query<{ id: number; price_cents: number; stock: number }>(
        `SELECT id, price_cents, stock FROM ${TABLES.products} WHERE sku = $1 ORDER BY id FOR UPDATE`,
        [sku],
      );
      const product = locked.rows[0];
      if (product === undefined || product.stock < 1) throw new Error(`baseline order ${orderId} found no stock`);
      await client.query(`UPDATE ${TABLES.products} SET stock = stock - 1, updated_at = now() WHERE id = $1`, [
        product.id,
      ]);
      await client.query(
        `INSERT INTO ${TABLES.stockReservations} (order_id, product_id, quantity, status) VALUES ($1, $2, 1, 'held')`,
        [orderId, product.id],
      );
      await client.query(
        `INSERT INTO ${TABLES.orderItems} (order_id, product_id, sku, quantity, unit_price_cents)
         VALUES ($1, $2, $3, 1, $4)`,
        [orderId, product.id, sku, product.price_cents],
      );
      await client.query(
        `INSERT INTO ${TABLES.inventoryMovements} (product_id, kind, quantity, order_id) VALUES ($1, 'reserve', -1, $2)`,
        [product.id, orderId],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  };
}

/** Runs the scenario; `--quick` does one short round per side. */
export async function run({ quick, log, stack: { signal } }: BenchOptions): Promise<ScenarioResult> {
  const config = loadConfigOrExit();
  // Many short alternating rounds: on a shared machine load comes in bursts, and a burst should hit both sides.
  const rounds = quick ? 2 : 8;
  const perRound = quick ? 200 : 500;
  const warmup = CALLERS * 2;
  const perSide = rounds * perRound + warmup;

  const db = createDb({ url: config.databaseUrl, poolMax: CALLERS });
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: CALLERS });
  const run = randomUUID().slice(0, 8).toUpperCase();
  const skus = { ours: `BENCH-RSV-OURS-${run}`, baseline: `BENCH-RSV-BASE-${run}` };
  const orders = { ours: [] as string[], baseline: [] as string[] };
  try {
    if (!(await db.schema.hasTable(TABLES.stockReservations))) {
      throw new Error(
        `${TABLES.stockReservations} is missing: run the migrations on DATABASE_URL first (npm run migrate)`,
      );
    }
    // Enough stock that nothing is ever rejected: we measure reservations that write.
    await insertProductsWithLedger(db, [
      { sku: skus.ours, name: 'bench (ours)', priceCents: PRICE_CENTS, stock: perSide },
      { sku: skus.baseline, name: 'bench (baseline)', priceCents: PRICE_CENTS, stock: perSide },
    ]);
    // Order rows up front (order_items reference them), outside the timed part.
    for (const side of ['ours', 'baseline'] as const) {
      orders[side] = Array.from({ length: perSide }, () => randomUUID());
      await insertBenchOrders(
        db,
        orders[side].map((id) => ({ id, customerId: `bench-${run}` })),
      );
    }

    /** Reserves for every order of `orderIds`, CALLERS at a time; returns reservations per second. */
    const measure = async (orderIds: string[], reserve: (orderId: string) => Promise<void>): Promise<number> => {
      const started = performance.now();
      await timedCalls(orderIds.length, CALLERS, (i) => reserve(orderIds[i] ?? ''), signal);
      return orderIds.length / ((performance.now() - started) / 1000);
    };
    const { reserveStock } = createInventoryActivities({ db, logger: createLogger('bench', 'silent') });
    const ours = async (orderId: string): Promise<void> => {
      const outcome = await reserveStock({ orderId, lines: [{ sku: skus.ours, quantity: 1 }] });
      if (outcome.status !== 'RESERVED') throw new Error(`reservation of ${orderId} unexpectedly ${outcome.status}`);
    };
    const baseline = baselineReserve(pool, skus.baseline);

    // Warm-up fills both pools and the plan caches; not timed.
    await measure(orders.ours.slice(0, warmup), ours);
    await measure(orders.baseline.slice(0, warmup), baseline);

    const rates = { ours: [] as number[], baseline: [] as number[] };
    for (let index = 0; index < rounds; index += 1) {
      const slice = (side: 'ours' | 'baseline'): string[] =>
        orders[side].slice(warmup + index * perRound, warmup + (index + 1) * perRound);
      rates.ours.push(await measure(slice('ours'), ours));
      rates.baseline.push(await measure(slice('baseline'), baseline));
      log(
        `   round ${index + 1}/${rounds}: ours ${rates.ours.at(-1)?.toFixed(0)}/s, baseline ${rates.baseline.at(-1)?.toFixed(0)}/s`,
      );
    }
    // Aggregate rate = all reservations / all time (a mean of per-round rates would overweight the fast rounds).
    const aggregate = (values: number[]): number => values.length / values.reduce((sum, rate) => sum + 1 / rate, 0);
    const oursRate = aggregate(rates.ours);
    const baselineRate = aggregate(rates.baseline);
    const ratio = oursRate / baselineRate;
    const roundRatios = rates.ours.map((rate, i) => rate / (rates.baseline[i] ?? rate)).sort((a, b) => a - b);
    const medianRatio = roundRatios[Math.floor(roundRatios.length / 2)] ?? ratio;

    const violations = await checkInvariants(db, {
      initialStock: new Map([
        [skus.ours, perSide],
        [skus.baseline, perSide],
      ]),
    });
    const stock = await db(TABLES.products).whereIn('sku', [skus.ours, skus.baseline]).select('sku', 'stock');
    if (stock.some((row: { stock: number }) => row.stock !== 0) || violations.length > 0) {
      throw new Error(`stock not conserved after the bench: ${JSON.stringify({ stock, violations })}`);
    }

    return {
      scenario: 'reserve',
      figures: {
        'ours reservations/s': Math.round(oursRate),
        'baseline (raw pg) reservations/s': Math.round(baselineRate),
        'ratio ours/baseline': round(ratio),
        'ratio, median of rounds': round(medianRatio),
        'concurrent callers': CALLERS,
        'reservations per side': rounds * perRound,
        rounds,
        ...machineFigures(),
      },
      goal: `ours/baseline >= ${GOAL_RATIO}`,
      goalMet: ratio >= GOAL_RATIO,
    };
  } finally {
    // Leave the database as we found it, whatever happened.
    await removeBenchRows(db, { customerPrefix: `bench-${run}`, skus: [skus.ours, skus.baseline] });
    await pool.end();
    await db.destroy();
  }
}
