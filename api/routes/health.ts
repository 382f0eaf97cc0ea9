/**
 * GET /health (liveness: the process answers) and GET /ready (readiness: Temporal, PostgreSQL and Redis answer
 * within a deadline, and the process is not draining for shutdown).
 */
import type { Middleware } from 'koa';
import type { RouteDeps } from '../deps';
import type { ReadinessChecks } from '../schemas';

/** Handler of GET /health. */
export function getHealth(): Middleware {
  return (ctx) => {
    ctx.body = { status: 'ok' };
  };
}

async function probe(check: () => Promise<unknown>, timeoutMs: number): Promise<'ok' | 'down'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'down'>((resolve) => {
    timer = setTimeout(() => resolve('down'), timeoutMs);
  });
  const attempt = check().then(
    () => 'ok' as const,
    () => 'down' as const,
  );
  try {
    return await Promise.race([attempt, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Handler of GET /ready. */
export function getReady({ db, redis, temporal, options }: RouteDeps): Middleware {
  return async (ctx) => {
    const timeoutMs = options.readyTimeoutMs;
    const [temporalState, postgres, redisState] = await Promise.all([
      probe(
        () =>
          temporal.withDeadline(Date.now() + timeoutMs, () => temporal.connection.workflowService.getSystemInfo({})),
        timeoutMs,
      ),
      probe(() => db.raw('select 1'), timeoutMs),
      probe(() => redis.ping(), timeoutMs),
    ]);
    const checks: ReadinessChecks = { temporal: temporalState, postgres, redis: redisState };
    const down = Object.entries(checks)
      .filter(([, state]) => state === 'down')
      .map(([name]) => name);
    if (options.isShuttingDown()) {
      ctx.status = 503;
      ctx.body = { error: 'service_unavailable', message: 'shutting down', checks };
    } else if (down.length > 0) {
      ctx.status = 503;
      ctx.set('Retry-After', String(options.retryAfterSeconds));
      ctx.body = { error: 'service_unavailable', message: `not ready: ${down.join(', ')} unavailable`, checks };
    } else {
      ctx.body = { status: 'ready', checks };
    }
  };
}
