/**
 * `createApp(deps)`: the Koa application of the HTTP API. It never listens (api/main.ts and the tests do), holds no
 * module-level state, and talks to Temporal, PostgreSQL and Redis only through the clients it is given.
 */
import Koa from 'koa';
import { cors } from './cors';
import { resolveOptions, type AppDeps } from './deps';
import { errorHandler } from './errors';
import { createMetrics, type ApiMetrics } from './metrics';
import { createRouter } from './routes';

export type { AppDeps, AppOptions } from './deps';

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
  app.use(cors(deps.config.corsOrigins));
  app.use(errorHandler(deps.logger, options.retryAfterSeconds));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
