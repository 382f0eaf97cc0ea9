/**
 * GET /orders: the caller's orders, newest first, one page at a time (`?limit=`, `?cursor=`, `?status=`). Admins see
 * every customer's orders and may filter with `?customerId=`; a customer may name only themself there. The router checks the query against
 * `listOrdersQuerySchema` first (lib/http/query.ts): unknown, repeated or invalid parameters are a 400.
 */
import type { Middleware } from 'koa';
import type { AuthState } from '../auth';
import type { RouteDeps } from '../deps';
import { validationError } from '../../lib/http/errors';
import { decodeCursor, listOrders } from '../order-store';
import type { QueryState } from '../../lib/http/query';
import { PAGE_LIMITS, type ListOrdersQuery } from '../validation';

/** Handler of GET /orders; `ctx.state.query` holds the validated parameters. */
export function getOrders({ db }: RouteDeps): Middleware<AuthState & QueryState<ListOrdersQuery>> {
  return async (ctx) => {
    const { caller, query } = ctx.state;
    // A customer may name themself (a client shared with admin screens does), never another customer.
    if (query.customerId !== undefined && caller.role !== 'admin' && query.customerId !== caller.customerId) {
      throw validationError('customerId', "only admins may list another customer's orders");
    }
    const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    if (query.cursor !== undefined && cursor === undefined) {
      throw validationError('cursor', 'not a cursor returned by a previous page');
    }
    ctx.body = await listOrders(db, {
      customerId: caller.role === 'admin' ? query.customerId : caller.customerId,
      status: query.status,
      limit: query.limit ?? PAGE_LIMITS.default,
      cursor,
    });
  };
}
