/**
 * The operator of a chaos run, following the runbook of docs/saga.md: a NEEDS_ATTENTION episode gets `retryPayment`
 * once the gateway is back, `cancel` if the order needs attention again (or, half the time, for `tok_unavailable`).
 * Each episode is acted on once, 2 s after it began; a signal that fails (Temporal restarting) is sent next round.
 */
import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import { gatewaySwitchEnabled, OUTAGE_SWITCH } from '../activities/payments';
import { TABLES } from '../lib/db';
import { cancelSignal, retryPaymentSignal, workflowIdFor } from '../workflows/definitions';
import type { TokenKind } from './load';
import type { Random } from './options';

/** The operator loop; `round()` runs one now and resolves with how many orders are in NEEDS_ATTENTION. */
export type Ops = ReturnType<typeof startOps>;
/** What the operator did. */
export type OpsRecords = Ops['records'];

/** How long an order sits in NEEDS_ATTENTION before the operator acts, and how often it looks. */
const REACTION_MS = 2000;
const ROUND_MS = 2000;

/** Starts the operator loop; `tokenOf` is the token kind of an order the load placed, if known. */
export function startOps(deps: {
  db: Knex;
  client: Client;
  random: Random;
  tokenOf: (orderId: string) => TokenKind | undefined;
}) {
  // NEEDS_ATTENTION episodes acted on (an order may have several), and signals that failed and were resent.
  const records = { episodes: 0, retries: 0, cancels: 0, failedSignals: 0 };
  const handled = new Set<string>();
  const episodesOf = new Map<string, number>();
  let running: Promise<number> | undefined;

  const act = async (): Promise<number> => {
    const rows = await deps.db.raw<{ rows: { id: string; seq: number; age_ms: number }[] }>(
      `SELECT o.id, e.seq, (EXTRACT(EPOCH FROM (now() - e.created_at)) * 1000)::int AS age_ms
         FROM ${TABLES.orders} o
         JOIN LATERAL (SELECT seq, created_at FROM ${TABLES.orderEvents} ev
                        WHERE ev.order_id = o.id AND ev.status = 'NEEDS_ATTENTION'
                        ORDER BY seq DESC LIMIT 1) e ON true
        WHERE o.status = 'NEEDS_ATTENTION'`,
    );
    const outage = await gatewaySwitchEnabled(deps.db, OUTAGE_SWITCH);
    for (const row of rows.rows) {
      const episode = `${row.id}:${row.seq}`;
      if (handled.has(episode) || row.age_ms < REACTION_MS) continue;
      const previous = episodesOf.get(row.id) ?? 0;
      const unavailable = deps.tokenOf(row.id) === 'tok_unavailable';
      const giveUp = previous >= 1 || (unavailable && deps.random.chance(0.5));
      if (!giveUp && outage) continue; // wait for the gateway before retrying
      const handle = deps.client.workflow.getHandle(workflowIdFor(row.id));
      try {
        if (giveUp) await handle.signal(cancelSignal, { reason: 'ops: chaos run gave up on the payment' });
        else await handle.signal(retryPaymentSignal);
      } catch {
        records.failedSignals += 1;
        continue;
      }
      handled.add(episode);
      episodesOf.set(row.id, previous + 1);
      records.episodes += 1;
      records[giveUp ? 'cancels' : 'retries'] += 1;
    }
    return rows.rows.length;
  };

  const round = (): Promise<number> => (running ??= act().finally(() => (running = undefined)));
  const timer = setInterval(() => {
    round().catch(() => undefined); // the database or Temporal may be mid-fault; the next round tries again
  }, ROUND_MS);

  return {
    records,
    round,
    async stop() {
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
