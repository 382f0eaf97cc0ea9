/**
 * A product's stock for admins: POST /products/:sku/stock-adjustments (a signed delta with a reason, under the row
 * lock reservations take) and GET /products/:sku/movements (the ledger, newest first, paginated).
 */
import type { RouterMiddleware } from '@koa/router';
import type { StockPublisher } from '../../lib/stock-events';
import type { AuthState } from '../auth';
import { readJsonBody } from '../../lib/http/body';
import { adjustStock, decodeMovementCursor, listMovements } from '../catalog-store';
import type { RouteDeps } from '../deps';
import { validationError } from '../../lib/http/errors';
import type { QueryState } from '../../lib/http/query';
import { PAGE_LIMITS, stockAdjustmentBodySchema, type ListMovementsQuery } from '../validation';
import { parseOrThrow } from '../../lib/http/validate';
import { pathSku } from './products';

/** Handler of POST /products/:sku/stock-adjustments: 201 `{ sku, stock, movementId }`. */
export function postStockAdjustment({ db }: RouteDeps, publish: StockPublisher): RouterMiddleware<AuthState> {
  return async (ctx) => {
    const sku = pathSku(ctx.params.sku);
    const body = parseOrThrow(stockAdjustmentBodySchema, await readJsonBody(ctx));
    const adjusted = await adjustStock(db, sku, body.delta, body.reason);
    await publish([adjusted.movement]);
    ctx.status = 201;
    ctx.body = { sku: adjusted.sku, stock: adjusted.stock, movementId: adjusted.movement.id };
  };
}

/** Handler of GET /products/:sku/movements; `ctx.state.query` holds the parameters the router validated. */
export function getMovements({ db }: RouteDeps): RouterMiddleware<AuthState & QueryState<ListMovementsQuery>> {
  return async (ctx) => {
    const sku = pathSku(ctx.params.sku);
    const { query } = ctx.state;
    const afterId = query.cursor === undefined ? undefined : decodeMovementCursor(query.cursor);
    if (query.cursor !== undefined && afterId === undefined) {
      throw validationError('cursor', 'not a cursor returned by a previous page');
    }
    ctx.body = await listMovements(db, sku, { limit: query.limit ?? PAGE_LIMITS.default, afterId });
  };
}
