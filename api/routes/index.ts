/** The route table: every path, its method, whether it needs a token, and its handler. */
import Router from '@koa/router';
import { requireAuth, type AuthState } from '../auth';
import type { RouteDeps } from '../deps';
import type { ApiMetrics } from '../metrics';
import { buildOpenApiDocument } from '../openapi';
import { rateLimit } from '../rate-limit';
import { cancelOrder } from './cancel-order';
import { createOrder } from './create-order';
import { getOrder } from './get-order';
import { getHealth, getReady } from './health';
import { getOrders } from './list-orders';
import { getMetrics } from './metrics';
import { getProducts } from './products';

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

  router.get('/health', getHealth());
  router.get('/ready', getReady(deps));
  router.get('/metrics', getMetrics(metrics));
  router.get('/openapi.json', (ctx) => {
    ctx.body = openapi;
  });
  router.get('/products', getProducts(deps));
  router.post<AuthState>('/orders', auth, limit, createOrder(deps, metrics));
  router.get<AuthState>('/orders', auth, limit, getOrders(deps));
  router.get<AuthState>('/orders/:id', auth, limit, getOrder(deps));
  router.post<AuthState>('/orders/:id/cancel', auth, limit, cancelOrder(deps));
  return router;
}
