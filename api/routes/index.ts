/** The route table: every path, its method, whether it needs a token, and its handler. */
import Router from '@koa/router';
import { createStockPublisher } from '../../lib/stock-events';
import { requireAdmin, requireAuth, type AuthState } from '../auth';
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
import { getExport, getExportDownload, postExport } from './exports';
import { getProducts, patchProduct, postProduct } from './products';
import { retryPayment } from './retry-payment';
import { getMovements, postStockAdjustment } from './stock';

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
  const admin = requireAdmin();
  const publish = createStockPublisher({
    db: deps.db,
    redis: deps.redis,
    redisKeyPrefix: deps.config.redisKeyPrefix,
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
  router.post<AuthState>('/orders/:id/retry-payment', auth, limit, admin, retryPayment(deps));
  router.post<AuthState>('/products', auth, limit, admin, postProduct(deps, publish));
  router.patch<AuthState>('/products/:sku', auth, limit, admin, patchProduct(deps));
  router.post<AuthState>('/products/:sku/stock-adjustments', auth, limit, admin, postStockAdjustment(deps, publish));
  router.get<AuthState>('/products/:sku/movements', auth, limit, admin, getMovements(deps));
  router.post<AuthState>('/exports', auth, limit, admin, postExport(deps));
  router.get<AuthState>('/exports/:id', auth, limit, admin, getExport(deps));
  router.get<AuthState>('/exports/:id/download', auth, limit, admin, getExportDownload(deps));
  return router;
}
