/**
 * POST /orders/:id/retry-payment (admin): sends the `retryPayment` signal, as the Temporal UI does, to an order
 * waiting in NEEDS_ATTENTION, and answers 202; the saga charges again with the same idempotency key. Any other status
 * answers 409 not_in_attention with the status. The body is empty or `{}`; anything else is refused before the signal.
 */
import type { RouterMiddleware } from '@koa/router';
import type { OrderStatus } from '../../workflows/definitions';
import type { AuthState } from '../auth';
import { readOptionalJsonBody } from '../../lib/http/body';
import { temporalCallOptions, type RouteDeps } from '../deps';
import type { ApiError } from '../../lib/http/errors';
import { orderStatusConflict } from '../errors';
import { asStatus, findOrderRow } from '../order-store';
import { signalRetryPayment } from '../../lib/order-workflow';
import { parseOrThrow } from '../../lib/http/validate';
import { retryPaymentBodySchema } from '../validation';
import { findVisibleOrder } from './get-order';

/** The only status in which a payment retry means anything. */
const ATTENTION: OrderStatus = 'NEEDS_ATTENTION';

function notInAttention(orderId: string, status: OrderStatus): ApiError {
  return orderStatusConflict('not_in_attention', orderId, status, `, not ${ATTENTION}: nothing to retry`);
}

/** Handler of POST /orders/:id/retry-payment. */
export function retryPayment(deps: RouteDeps): RouterMiddleware<AuthState> {
  const { db, temporal, options } = deps;
  const call = temporalCallOptions(options);
  return async (ctx) => {
    const row = await findVisibleOrder(db, ctx.state.caller, ctx.params.id);
    parseOrThrow(retryPaymentBodySchema, await readOptionalJsonBody(ctx));
    const status = asStatus(row.status);
    if (status !== ATTENTION) throw notInAttention(row.id, status);
    if (!(await signalRetryPayment(temporal, row.id, call))) {
      // The workflow ended between our read and the signal (e.g. the attention timeout cancelled it).
      throw notInAttention(row.id, asStatus((await findOrderRow(db, row.id))?.status ?? status));
    }
    ctx.status = 202;
    ctx.body = { orderId: row.id, status, retryRequested: true };
  };
}
