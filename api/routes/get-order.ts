/**
 * GET /orders/:id: the order with its lines, payment and events, from PostgreSQL, as of one moment (lib/db.ts
 * SNAPSHOT). Another customer's order is a 404.
 */
import type { Knex } from 'knex';
import type { RouterMiddleware } from '@koa/router';
import { SNAPSHOT } from '../../lib/db';
import type { OrderRow } from '../../lib/rows';
import type { Caller } from '../../lib/auth';
import type { AuthState } from '../auth';
import type { RouteDeps } from '../deps';
import { orderNotFound } from '../errors';
import { findOrderRow, loadOrderView } from '../order-store';
import { orderIdSchema } from '../validation';

/** Loads an order the caller may see, or throws 404 (malformed ids, unknown ids and others' orders alike). */
export async function findVisibleOrder(db: Knex, caller: Caller, rawId: string | undefined): Promise<OrderRow> {
  const id = rawId ?? '';
  if (!orderIdSchema.safeParse(id).success) throw orderNotFound(id.slice(0, 64));
  const row = await findOrderRow(db, id.toLowerCase());
  if (row === undefined) throw orderNotFound(id);
  if (caller.role !== 'admin' && row.customer_id !== caller.customerId) throw orderNotFound(id);
  return row;
}

/** Handler of GET /orders/:id. */
export function getOrder({ db }: RouteDeps): RouterMiddleware<AuthState> {
  return async (ctx) => {
    // One snapshot: the status, the events and the payment agree even while a step commits.
    ctx.body = await db.transaction(
      async (trx) => loadOrderView(trx, await findVisibleOrder(trx, ctx.state.caller, ctx.params.id)),
      SNAPSHOT,
    );
  };
}
