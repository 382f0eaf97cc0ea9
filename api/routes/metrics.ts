/** GET /metrics: Prometheus text exposition of this instance's registry. */
import type { Middleware } from 'koa';
import type { ApiMetrics } from '../metrics';

/** Handler of GET /metrics. */
export function getMetrics(metrics: ApiMetrics): Middleware {
  return async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  };
}
