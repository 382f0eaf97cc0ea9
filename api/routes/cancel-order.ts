/**
 * POST /orders/:id/cancel: sends the `cancel` signal and answers 202; the saga releases stock and refunds in the
 * background. COMPLETED, REJECTED and FAILED orders answer 409 not_cancellable; a CANCELLED order answers 202 again
 * (cancelling is idempotent), and its workflow gets the signal too when a run of it is running (a Reset run).
 */
import type { RouterMiddleware } from '@koa/router';
import { NOT_CANCELLABLE_STATUSES, type OrderStatus } from '../../workflows/definitions';
import type { AuthState } from '../auth';
import { readOptionalJsonBody } from '../../lib/http/body';
import { temporalCallOptions, type RouteDeps } from '../deps';
import type { ApiError } from '../../lib/http/errors';
import { orderStatusConflict } from '../errors';
import { asStatus, findOrderRow } from '../order-store';
import { signalCancel } from '../../lib/order-workflow';
import { cancelBodySchema } from '../validation';
import { parseOrThrow } from '../../lib/http/validate';
import { findVisibleOrder } from './get-order';

function notCancellable(orderId: string, status: OrderStatus): ApiError {
  return orderStatusConflict('not_cancellable', orderId, status, ' and can no longer be cancelled');
}

/** Handler of POST /orders/:id/cancel. */
export function cancelOrder(deps: RouteDeps): RouterMiddleware<AuthState> {
  const { db, temporal, options } = deps;
  const call = temporalCallOptions(options);
  return async (ctx) => {
    const caller = ctx.state.caller;
    const row = await findVisibleOrder(db, caller, ctx.params.id);
    const body = parseOrThrow(cancelBodySchema, await readOptionalJsonBody(ctx));
    let status = asStatus(row.status);
    if (NOT_CANCELLABLE_STATUSES.includes(status)) throw notCancellable(row.id, status);
    const reason = body.reason ?? (caller.role === 'admin' ? 'cancelled by an operator' : 'cancelled by the customer');
    // Sent for a CANCELLED row too: a run an operator's Reset started may be reopening the order (it places it again
    // before the row says so), and it must get this cancel. A closed workflow refuses the signal, which is then a
    // repeat of a done cancel. The workflow marks the cancel on the order row itself while a charge is scheduled
    // (docs/saga.md, "Cancel").
    const delivered = await signalCancel(temporal, row.id, reason, call);
    if (!delivered && status !== 'CANCELLED') {
      // The workflow finished between our read and the signal: answer with its final status.
      status = asStatus((await findOrderRow(db, row.id))?.status ?? status);
      if (NOT_CANCELLABLE_STATUSES.includes(status)) throw notCancellable(row.id, status);
    }
    ctx.status = 202;
    ctx.body = { orderId: row.id, status, cancelRequested: true };
  };
}
