/**
 * The one activity of `minimalWorkflow`: an order's database work in one transaction (stock taken under the product
 * row lock, a committed reservation, the approved payment, the COMPLETED event); no gateway, no Redis. Idempotent:
 * the payment's idempotency key is written first, so a retried activity finds it and changes nothing.
 */
import type { Knex } from 'knex';
import { RESERVATION_STATUS } from '../../activities/inventory';
import { PAYMENT_STATUS } from '../../activities/payments';
import { TABLES } from '../../lib/db';
import { paymentIdempotencyKey, type OrderLine, type OrderStatus } from '../../workflows/definitions';

const COMPLETED: OrderStatus = 'COMPLETED';

/** Card fingerprint of the minimal's payment rows (no token is fingerprinted: no gateway is called). */
const MINIMAL_CARD_FINGERPRINT = 'bench-minimal';

/** Input of `placeMinimalOrder`; `amountCents` (of the payment row) is priced by the workflow. */
export interface MinimalOrderArgs {
  orderId: string;
  lines: OrderLine[];
  amountCents: number;
}

/** The minimal's activities (one). */
export interface MinimalActivities {
  /** Reserve + charge row + commit + COMPLETED event in one transaction; returns the units committed (0 on a retry). */
  placeMinimalOrder(args: MinimalOrderArgs): Promise<{ committed: number }>;
}

/** Builds the activity on `db`. */
export function createMinimalActivities(db: Knex): MinimalActivities {
  return {
    placeMinimalOrder: ({ orderId, lines, amountCents }) =>
      db.transaction(async (trx) => {
        const paid = await trx(TABLES.payments)
          .insert({
            idempotency_key: paymentIdempotencyKey(orderId),
            order_id: orderId,
            amount_cents: amountCents,
            status: PAYMENT_STATUS.approved,
            card_fingerprint: MINIMAL_CARD_FINGERPRINT,
          })
          .onConflict('idempotency_key')
          .ignore()
          .returning('id');
        if (paid.length === 0) return { committed: 0 };
        let committed = 0;
        for (const line of lines) {
          const [product] = await trx(TABLES.products)
            .where({ sku: line.sku })
            .where('stock', '>=', line.quantity)
            .decrement('stock', line.quantity)
            .returning<{ id: number }[]>('id');
          if (product === undefined) throw new Error(`minimal: no stock for ${line.sku}`);
          await trx(TABLES.stockReservations).insert({
            order_id: orderId,
            product_id: product.id,
            quantity: line.quantity,
            status: RESERVATION_STATUS.committed,
          });
          committed += line.quantity;
        }
        await trx(TABLES.orderEvents).insert({ order_id: orderId, seq: 1, status: COMPLETED });
        return { committed };
      }),
  };
}
