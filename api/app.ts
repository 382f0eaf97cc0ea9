/**
 * `createApp(deps)`: the Koa application of the HTTP API. It never listens (api/main.ts and the tests do), holds no
 * module-level state, and talks to Temporal, PostgreSQL and Redis only through the clients it is given.
 */
import Koa from 'koa';
import { cors } from '../lib/http/cors';
import { errorHandler } from '../lib/http/errors';
import { resolveOptions, type AppDeps } from './deps';
import { createMetrics, type ApiMetrics } from './metrics';
import { createRouter } from './routes';

export type { AppDeps, AppOptions } from './deps';

/**
 * CORS of the browser clients of `CORS_ORIGINS` (e.g. the relay's demo page on :3001 calling the API on :3000): the
 * methods, request headers and response headers they use.
 */
const API_CORS = {
  allowMethods: ['GET', 'POST', 'PATCH'],
  allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key'],
  exposeHeaders: [
    'Location',
    'Retry-After',
    'RateLimit-Limit',
    'RateLimit-Remaining',
    'RateLimit-Reset',
    'Content-Disposition',
  ],
};

/** The API as a Koa app, plus its metrics registry. */
export interface OrderFlowApp extends Koa {
  metrics: ApiMetrics;
}

/** Builds the API application. */
export function createApp(deps: AppDeps): OrderFlowApp {
  const options = resolveOptions(deps.options);
  const routeDeps = { ...deps, options };
  const metrics = createMetrics(options.processMetrics);
  const router = createRouter(routeDeps, metrics);
  const app = new Koa({ proxy: false }) as OrderFlowApp;
  app.metrics = metrics;
  app.silent = true;
  app.use(metrics.middleware);
  app.use(cors({ origins: deps.config.corsOrigins, ...API_CORS }));
  app.use(errorHandler(deps.logger, { retryAfterSeconds: options.retryAfterSeconds }));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
