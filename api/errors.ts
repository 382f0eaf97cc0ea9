/** The API's own errors on top of the shared error path (`lib/http/errors.ts`): what it answers when a thing is missing. */
import { ApiError } from '../lib/http/errors';

/** 404 for an order that does not exist or belongs to another customer (the two are indistinguishable on purpose). */
export function orderNotFound(orderId: string): ApiError {
  return new ApiError('not_found', `order ${orderId} not found`);
}

/** 404 for a SKU that is not in the catalog. */
export function productNotFound(sku: string): ApiError {
  return new ApiError('not_found', `product ${sku.slice(0, 64)} not found`);
}
