/**
 * The route table: every path, its method, whether it needs a token, the query parameters it accepts, and its
 * handler. Every route goes through `route(...)`, so every route checks its query the same way (lib/http/query.ts): a
 * route that declares no parameters refuses any with a 400 naming it.
 */
import Router, { type RouterMiddleware } from '@koa/router';
import type { Middleware } from 'koa';
import type { z } from 'zod';
import { requireAdmin, requireAuth, type AuthState } from '../auth';
import type { RouteDeps } from '../deps';
import type { ApiMetrics } from '../metrics';
import { buildOpenApiDocument } from '../openapi';
import { acceptQuery, NO_QUERY, type QuerySchema, type QueryState } from '../../lib/http/query';
import { rateLimit } from '../rate-limit';
import { createStockPublisher } from '../../lib/stock-events';
import { listMovementsQuerySchema, exportDownloadQuerySchema, listOrdersQuerySchema } from '../validation';
import { cancelOrder } from './cancel-order';
import { createOrder } from './create-order';
import { getOrder } from './get-order';
import { getHealth, getReady } from './health';
import { getOrders } from './list-orders';
import { getMetrics } from './metrics';
import { getExport, getExportDownload, postExport } from './exports';
import { getProducts, patchProduct, postProduct } from './products';
import { retryPayment } from './retry-payment';
import { getMovements, postStockAdjustment } from './stock';

/**
 * Who may call a route: anyone, a caller with a valid token (then also rate limited per customer), or an admin
 * (a valid token with the admin role; docs/authorization.md).
 */
export type RouteAccess = 'public' | 'token' | 'admin';

/** Registers routes on a router; `query` is the strict schema of the route's query parameters. */
export type RouteRegistrar = <S extends QuerySchema>(
  method: 'get' | 'post' | 'patch',
  path: string,
  access: RouteAccess,
  query: S,
  handler: RouterMiddleware<AuthState & QueryState<z.output<S>>>,
) => void;

/**
 * A registrar on `router`: authentication and the rate limit first for token routes (an unauthenticated caller
 * learns nothing about parameters), then the query check, then the handler.
 */
export function routeRegistrar(
  router: Router,
  tokenGuards: Middleware<AuthState>[],
  adminGuards: Middleware<AuthState>[] = [],
): RouteRegistrar {
  return (method, path, access, query, handler) => {
    const guards = access === 'public' ? [] : tokenGuards;
    // The role check comes after the query check, so every route answers a bad query the same way to any caller
    // with a valid token; it still runs before the handler reads or changes anything.
    const roleGuards = access === 'admin' ? adminGuards : [];
    router[method](
      path,
      ...(guards as Middleware[]),
      acceptQuery(query) as Middleware,
      ...(roleGuards as Middleware[]),
      handler as Middleware,
    );
  };
}

/** Builds the router; `app.ts` mounts it, and the OpenAPI test compares its routes with the document. */
export function createRouter(deps: RouteDeps, metrics: ApiMetrics): Router {
  const router = new Router();
  const auth = requireAuth(deps.config.jwtSecret);
  const limit = rateLimit({
    redis: deps.redis,
    prefix: deps.config.redisKeyPrefix,
    limit: deps.config.rateLimitPerMinute,
    logger: deps.logger,
  });
  const publish = createStockPublisher({
    db: deps.db,
    redis: deps.redis,
    redisKeyPrefix: deps.config.redisKeyPrefix,
    logger: deps.logger,
  });
  const openapi = buildOpenApiDocument();
  const route = routeRegistrar(router, [auth, limit], [requireAdmin()]);

  // Service
  route('get', '/health', 'public', NO_QUERY, getHealth());
  route('get', '/ready', 'public', NO_QUERY, getReady(deps));
  route('get', '/metrics', 'public', NO_QUERY, getMetrics(metrics));
  route('get', '/openapi.json', 'public', NO_QUERY, (ctx) => {
    ctx.body = openapi;
  });
  // Orders (customers; admins see every customer's)
  route('post', '/orders', 'token', NO_QUERY, createOrder(deps, metrics));
  route('get', '/orders', 'token', listOrdersQuerySchema, getOrders(deps));
  route('get', '/orders/:id', 'token', NO_QUERY, getOrder(deps));
  route('post', '/orders/:id/cancel', 'token', NO_QUERY, cancelOrder(deps));
  route('post', '/orders/:id/retry-payment', 'admin', NO_QUERY, retryPayment(deps));
  // Catalog and stock ledger
  route('get', '/products', 'public', NO_QUERY, getProducts(deps));
  route('post', '/products', 'admin', NO_QUERY, postProduct(deps, publish));
  route('patch', '/products/:sku', 'admin', NO_QUERY, patchProduct(deps));
  route('post', '/products/:sku/stock-adjustments', 'admin', NO_QUERY, postStockAdjustment(deps, publish));
  route('get', '/products/:sku/movements', 'admin', listMovementsQuerySchema, getMovements(deps));
  // Exports
  route('post', '/exports', 'admin', NO_QUERY, postExport(deps));
  route('get', '/exports/:id', 'admin', NO_QUERY, getExport(deps));
  route('get', '/exports/:id/download', 'admin', exportDownloadQuerySchema, getExportDownload(deps));
  return router;
}
