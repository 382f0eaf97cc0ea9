/**
 * POST /orders: validates the request, then starts the order's saga with update-with-start and answers once the
 * reservation is decided: 201 RESERVED, 409 insufficient_stock or 422 unknown_sku. With an Idempotency-Key the order
 * id is derived from (customer, key), so a retry reaches the same workflow and gets the same order back; once that
 * workflow has finished, the answer comes from the database.
 */
import type { IncomingMessage } from 'node:http';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { exactCents } from '../../lib/money';
import type { OrderRow } from '../../lib/rows';
import type { Caller } from '../../lib/auth';
import type { AuthState } from '../auth';
import { readJsonBody } from '../../lib/http/body';
import { unavailableSkus } from '../catalog-store';
import { temporalCallOptions, type RouteDeps } from '../deps';
import { ApiError, serviceUnavailable, validationError } from '../../lib/http/errors';
import { singleHeader } from '../../lib/http/headers';
import { requestHashOf } from '../../lib/order-lines';
import { newOrderId } from '../idempotency';
import type { ApiMetrics } from '../metrics';
import { asStatus, findEventDetail, findOrderRow, loadItems } from '../order-store';
import { idempotencyKeyReused, startOrder, workflowInput } from '../../lib/order-workflow';
import type { OrderCreated } from '../schemas';
import { createOrderBodySchema, idempotencyKeySchema } from '../validation';
import { parseOrThrow } from '../../lib/http/validate';
import { DEFAULT_CURRENCY, isTerminal, type ReservationOutcome } from '../../workflows/definitions';

/** Header carrying the client's idempotency key. */
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

type Rejection = Extract<ReservationOutcome, { status: 'REJECTED' }>;

/** The error a REJECTED reservation answers with. */
export function rejectionError(orderId: string, rejection: Rejection): ApiError {
  if (rejection.reason === 'product_unavailable') {
    const skus = rejection.unavailableSkus ?? [];
    return new ApiError('product_unavailable', `not available for ordering: ${skus.join(', ')}`, {
      orderId,
      status: 'REJECTED',
      skus,
    });
  }
  if (rejection.reason === 'unknown_sku') {
    const skus = rejection.unknownSkus ?? [];
    return new ApiError(
      'unknown_sku',
      `unknown SKU${skus.length === 1 ? '' : 's'}: ${skus.join(', ') || '(unnamed)'}`,
      {
        orderId,
        status: 'REJECTED',
        skus,
      },
    );
  }
  const shortages = rejection.shortages ?? [];
  return new ApiError(
    'insufficient_stock',
    `not enough stock for ${shortages.map((s) => s.sku).join(', ') || 'this order'}`,
    { orderId, status: 'REJECTED', shortages },
  );
}

/** 422: some SKUs are drafts or archived; names them all. */
export function productUnavailable(skus: string[]): ApiError {
  return new ApiError('product_unavailable', `not available for ordering: ${skus.join(', ')}`, { skus });
}

/** What a REJECTED event's detail may carry (written by the saga); read leniently. */
const rejectionDetailSchema = z.object({
  reason: z.enum(['insufficient_stock', 'unknown_sku', 'product_unavailable']).optional(),
  shortages: z
    .array(z.object({ sku: z.string(), requested: z.number(), available: z.number() }))
    .optional()
    .catch(undefined),
  unknownSkus: z.array(z.string()).optional().catch(undefined),
  unavailableSkus: z.array(z.string()).optional().catch(undefined),
});

/** The request's Idempotency-Key, or undefined; 400 when it is not a valid key or is given more than once. */
function readIdempotencyKey(req: IncomingMessage): string | undefined {
  const header = singleHeader(req, IDEMPOTENCY_HEADER, () => validationError(IDEMPOTENCY_HEADER, 'must be given once'));
  return header === undefined ? undefined : parseOrThrow(idempotencyKeySchema, header, IDEMPOTENCY_HEADER);
}

/**
 * Answers a repeat from its `orders` row: 422 if the key came with another body, the original rejection for a
 * REJECTED order, else the order with its current status.
 */
async function answerFromRow(deps: RouteDeps, row: OrderRow, requestHash: string): Promise<OrderCreated> {
  if (row.request_hash !== requestHash) throw idempotencyKeyReused(row.id);
  const status = asStatus(row.status);
  if (status === 'REJECTED') {
    const detail = rejectionDetailSchema.safeParse((await findEventDetail(deps.db, row.id, 'REJECTED')) ?? {});
    const data = detail.success ? detail.data : {};
    const reason = data.reason ?? (row.failure_reason?.includes('unknown_sku') ? 'unknown_sku' : 'insufficient_stock');
    throw rejectionError(row.id, {
      status: 'REJECTED',
      reason,
      shortages: data.shortages,
      unknownSkus: data.unknownSkus,
      unavailableSkus: data.unavailableSkus,
    });
  }
  return {
    orderId: row.id,
    customerId: row.customer_id,
    status,
    totalCents: exactCents(row.total_cents, 'orders.total_cents'),
    currency: row.currency,
    items: await loadItems(deps.db, row.id),
    idempotencyKey: row.idempotency_key,
  };
}

/** The order of a (customer, key) pair as already recorded, if any; only keyed requests can be repeats. */
async function recordedOrder(deps: RouteDeps, caller: Caller, orderId: string): Promise<OrderRow | undefined> {
  const row = await findOrderRow(deps.db, orderId);
  // The id is derived from the customer, so another customer's row here would be a SHA-256 collision.
  return row !== undefined && row.customer_id === caller.customerId ? row : undefined;
}

/** Handler of POST /orders. */
export function createOrder(deps: RouteDeps, metrics: ApiMetrics): Middleware<AuthState> {
  const { config, temporal, options } = deps;
  const call = temporalCallOptions(options);

  const respond = (ctx: Parameters<Middleware<AuthState>>[0], order: OrderCreated): void => {
    ctx.status = 201;
    ctx.set('Location', `/orders/${order.orderId}`);
    ctx.body = order;
  };

  return async (ctx) => {
    const caller = ctx.state.caller;
    const idempotencyKey = readIdempotencyKey(ctx.req);
    const body = parseOrThrow(createOrderBodySchema, await readJsonBody(ctx));
    const requestHash = requestHashOf({ lines: body.items, paymentToken: body.payment.token });
    const orderId = newOrderId(caller.customerId, idempotencyKey);

    // A repeat of a finished order is answered from the database without touching Temporal: its workflow may be
    // past retention, where update-with-start would otherwise start a second saga.
    const earlier = idempotencyKey === undefined ? undefined : await recordedOrder(deps, caller, orderId);
    if (earlier !== undefined && (earlier.request_hash !== requestHash || isTerminal(asStatus(earlier.status)))) {
      metrics.orders.inc({ outcome: 'repeated' });
      respond(ctx, await answerFromRow(deps, earlier, requestHash));
      return;
    }

    // Drafts and archived products are not orderable: refused before any workflow starts (no order is created).
    if (earlier === undefined) {
      const unavailable = await unavailableSkus(
        deps.db,
        body.items.map((item) => item.sku),
      );
      if (unavailable.length > 0) throw productUnavailable(unavailable);
    }

    const input = workflowInput(config, {
      orderId,
      customerId: caller.customerId,
      lines: body.items.map((item) => ({ sku: item.sku, quantity: item.quantity })),
      paymentToken: body.payment.token,
      requestHash,
      ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
    });
    let result: Awaited<ReturnType<typeof startOrder>>;
    try {
      result = await startOrder(temporal, config, input, call);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'idempotency_key_reused') {
        metrics.orders.inc({ outcome: 'reused_key' });
      }
      if (error instanceof ApiError && error.code === 'service_unavailable') {
        metrics.orders.inc({ outcome: 'unavailable' });
      }
      throw error;
    }
    if (result.kind === 'closed') {
      // Finished between our read and the start: the row holds the answer now.
      metrics.orders.inc({ outcome: 'repeated' });
      const row = await recordedOrder(deps, caller, orderId);
      if (row === undefined) {
        deps.logger.warn('closed order workflow without an order row', { orderId });
        throw serviceUnavailable('the order is not available yet; retry later', options.retryAfterSeconds);
      }
      respond(ctx, await answerFromRow(deps, row, requestHash));
      return;
    }
    const { outcome } = result;
    if (outcome.status === 'REJECTED') {
      metrics.orders.inc({ outcome: earlier === undefined ? 'rejected' : 'repeated' });
      throw rejectionError(orderId, outcome);
    }
    // A repeat of a running order reports the status the order has reached since; a new order is RESERVED.
    const reached = earlier === undefined ? undefined : (await recordedOrder(deps, caller, orderId))?.status;
    const status = reached === undefined || asStatus(reached) === 'PENDING' ? 'RESERVED' : asStatus(reached);
    metrics.orders.inc({ outcome: earlier === undefined ? 'created' : 'repeated' });
    respond(ctx, {
      orderId,
      customerId: caller.customerId,
      status,
      totalCents: outcome.totalCents,
      currency: input.currency ?? DEFAULT_CURRENCY,
      items: outcome.lines.map((line) => ({
        sku: line.sku,
        quantity: line.quantity,
        unitPriceCents: line.unitPriceCents,
      })),
      idempotencyKey: idempotencyKey ?? null,
    });
  };
}
