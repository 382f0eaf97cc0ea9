/** The API's own errors on top of the shared error path (`lib/http/errors.ts`): missing things, refused actions. */
import { ApiError } from '../lib/http/errors';
import type { OrderStatus } from '../workflows/definitions';

/** 404 for an order that does not exist or belongs to another customer (the two are indistinguishable on purpose). */
export function orderNotFound(orderId: string): ApiError {
  return new ApiError('not_found', `order ${orderId} not found`);
}

/** 409 for an order action its status does not allow, with `orderId` and `status`; `why` follows the status in the message. */
export function orderStatusConflict(
  code: 'not_cancellable' | 'not_in_attention',
  orderId: string,
  status: OrderStatus,
  why: string,
): ApiError {
  return new ApiError(code, `order ${orderId} is ${status}${why}`, { orderId, status });
}

/** 404 for a SKU that is not in the catalog. */
export function productNotFound(sku: string): ApiError {
  return new ApiError('not_found', `product ${sku.slice(0, 64)} not found`);
}
