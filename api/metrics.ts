/**
 * Prometheus metrics of one API instance, on its own registry (no global state, so tests can build many apps):
 * request latency by route template and status, and order outcomes.
 */
import type { Middleware } from 'koa';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** The API's metrics. */
export interface ApiMetrics {
  registry: Registry;
  /** Middleware timing every request; labels use the route template, never the raw path. */
  middleware: Middleware;
  /** POST /orders outcomes: created, repeated, rejected, reused_key, unavailable. */
  orders: Counter<'outcome'>;
}

/** Builds the metrics; `processMetrics` adds Node's default process metrics. */
export function createMetrics(processMetrics: boolean): ApiMetrics {
  const registry = new Registry();
  if (processMetrics) collectDefaultMetrics({ register: registry, prefix: 'orderflow_api_' });
  const duration = new Histogram({
    name: 'orderflow_api_http_request_duration_seconds',
    help: 'HTTP request latency by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const orders = new Counter({
    name: 'orderflow_api_orders_total',
    help: 'POST /orders outcomes',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const middleware: Middleware = async (ctx, next) => {
    const stop = duration.startTimer();
    try {
      await next();
    } finally {
      const route = (ctx as { _matchedRoute?: unknown })._matchedRoute;
      stop({ method: ctx.method, route: typeof route === 'string' ? route : 'unmatched', status: String(ctx.status) });
    }
  };
  return { registry, middleware, orders };
}
