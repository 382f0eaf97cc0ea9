/**
 * API entry point (`npm run api`): parses config, builds the clients, serves `createApp` on HOST:PORT and shuts down
 * gracefully on SIGTERM/SIGINT: /ready turns 503, the server stops accepting, every response from then on closes its
 * keep-alive connection, in-flight requests finish (a request still running when SHUTDOWN_GRACE ends gets a 503 with
 * Retry-After instead of a reset), then the Temporal, PostgreSQL and Redis clients are closed.
 */
import http from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { parseCommandLine, processCommand } from '../lib/cli';
import { createDataConverter } from '../lib/codec';
import { loadConfigOrExit } from '../lib/config';
import { createDb } from '../lib/db';
import type { ErrorCode } from '../lib/http/errors';
import { listen } from '../lib/http/listen';
import { createLogger } from '../lib/logger';
import { createRedis } from '../lib/redis';
import { connectionOptions } from '../lib/temporal';
import { createApp } from './app';
import { resolveOptions } from './deps';

/** The answer to a request still running when the grace period ends: retryable, like every 503 of the API. */
function answerUnavailable(res: http.ServerResponse, retryAfterSeconds: number): void {
  const code: ErrorCode = 'service_unavailable';
  const body = JSON.stringify({ error: code, message: 'the server is shutting down; retry the request' });
  res.writeHead(503, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Retry-After': String(retryAfterSeconds),
    Connection: 'close',
  });
  res.end(body);
}

async function main(): Promise<void> {
  parseCommandLine(processCommand('api'), {});
  const config = loadConfigOrExit();
  const logger = createLogger('api', config.logLevel);
  const db = createDb({ url: config.databaseUrl, poolMax: config.dbPoolMax, logger });
  const redis = createRedis(config.redisUrl, {}, logger);
  // Lazy: the API starts (and /ready reports it) while Temporal is still coming up.
  const connection = Connection.lazy(connectionOptions(config.temporal));
  // Payloads (the payment token in the workflow input above all) are encrypted, as worker/main.ts decrypts them
  // (docs/security.md).
  const temporal = new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: createDataConverter(config),
  });

  let shuttingDown = false;
  const options = { isShuttingDown: () => shuttingDown };
  const { retryAfterSeconds } = resolveOptions(options);
  const app = createApp({ config, db, redis, temporal, logger, options });
  const handle = app.callback();
  // Responses not yet finished: a drain asks their clients to close the connection, and answers those that outlive it.
  const inFlight = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
    if (shuttingDown) res.setHeader('Connection', 'close');
    void handle(req, res);
  });
  server.keepAliveTimeout = 5_000;
  const { port } = await listen(server, config.apiPort, config.host);
  logger.info('api listening', { url: `http://${config.host}:${port}`, taskQueue: config.temporal.taskQueue });

  const shutdown = async (signal: string): Promise<void> => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info('shutting down', { signal, graceMs: config.shutdownGraceMs });
    // Idle connections close now; busy ones close after their response, so a keep-alive client sends its next
    // request to another replica instead of keeping this one busy until the grace period ends.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
    let lastResort: NodeJS.Timeout | undefined;
    const grace = setTimeout(() => {
      logger.warn('grace period over: answering 503 to the requests still running', { requests: inFlight.size });
      for (const res of inFlight) {
        if (res.headersSent) res.destroy();
        else answerUnavailable(res, retryAfterSeconds);
      }
      // Whatever is left (a request still arriving) has nothing to finish.
      lastResort = setTimeout(() => server.closeAllConnections(), 1_000);
    }, config.shutdownGraceMs);
    await closed;
    clearTimeout(grace);
    clearTimeout(lastResort);
    await Promise.allSettled([connection.close(), db.destroy(), redis.quit()]);
    logger.info('stopped');
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      shutdown(signal).then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error('shutdown failed', { err: error });
          process.exit(1);
        },
      );
    });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`api: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
