/**
 * The route table: every path, its method, whether it needs a token, the query parameters it accepts, and its
 * handler. Every route goes through `route(...)`, so every route checks its query the same way (api/query.ts): a
 * route that declares no parameters refuses any with a 400 naming it.
 */
import Router, { type RouterMiddleware } from '@koa/router';
import type { Middleware } from 'koa';
import type { z } from 'zod';
import { requireAuth, type AuthState } from '../auth';
import type { RouteDeps } from '../deps';
import type { ApiMetrics } from '../metrics';
import { buildOpenApiDocument } from '../openapi';
import { acceptQuery, NO_QUERY, type QuerySchema, type QueryState } from '../query';
import { rateLimit } from '../rate-limit';
import { listOrdersQuerySchema } from '../validation';
import { cancelOrder } from './cancel-order';
import { createOrder } from './create-order';
import { getOrder } from './get-order';
import { getHealth, getReady } from './health';
import { getOrders } from './list-orders';
import { getMetrics } from './metrics';
import { getProducts } from './products';

/** Who may call a route: anyone, or a caller with a valid token (then also rate limited per customer). */
export type RouteAccess = 'public' | 'token';

/** Registers routes on a router; `query` is the strict schema of the route's query parameters. */
export type RouteRegistrar = <S extends QuerySchema>(
  method: 'get' | 'post',
  path: string,
  access: RouteAccess,
  query: S,
  handler: RouterMiddleware<AuthState & QueryState<z.output<S>>>,
) => void;

/**
 * A registrar on `router`: authentication and the rate limit first for token routes (an unauthenticated caller
 * learns nothing about parameters), then the query check, then the handler.
 */
export function routeRegistrar(router: Router, tokenGuards: Middleware<AuthState>[]): RouteRegistrar {
  return (method, path, access, query, handler) => {
    const guards = access === 'token' ? tokenGuards : [];
    router[method](path, ...(guards as Middleware[]), acceptQuery(query) as Middleware, handler as Middleware);
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
  const openapi = buildOpenApiDocument();
  const route = routeRegistrar(router, [auth, limit]);

  route('get', '/health', 'public', NO_QUERY, getHealth());
  route('get', '/ready', 'public', NO_QUERY, getReady(deps));
  route('get', '/metrics', 'public', NO_QUERY, getMetrics(metrics));
  route('get', '/openapi.json', 'public', NO_QUERY, (ctx) => {
    ctx.body = openapi;
  });
  route('get', '/products', 'public', NO_QUERY, getProducts(deps));
  route('post', '/orders', 'token', NO_QUERY, createOrder(deps, metrics));
  route('get', '/orders', 'token', listOrdersQuerySchema, getOrders(deps));
  route('get', '/orders/:id', 'token', NO_QUERY, getOrder(deps));
  route('post', '/orders/:id/cancel', 'token', NO_QUERY, cancelOrder(deps));
  return router;
}
