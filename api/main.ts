/**
 * API entry point (`npm run api`): parses config, builds the clients, serves `createApp` on HOST:PORT and shuts down
 * gracefully on SIGTERM/SIGINT: /ready turns 503, the server stops accepting, in-flight requests finish (bounded by
 * SHUTDOWN_GRACE), then the Temporal, PostgreSQL and Redis clients are closed.
 */
import http from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { createDataConverter } from '../lib/codec';
import { loadConfigOrExit } from '../lib/config';
import { createDb } from '../lib/db';
import { createLogger } from '../lib/logger';
import { createRedis } from '../lib/redis';
import { connectionOptions } from '../lib/temporal';
import { createApp } from './app';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger('api', config.logLevel);
  const db = createDb({ url: config.databaseUrl, poolMax: config.dbPoolMax });
  const redis = createRedis(config.redisUrl);
  redis.on('error', (error: unknown) => logger.warn('redis error', { err: error }));
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
  const app = createApp({ config, db, redis, temporal, logger, options: { isShuttingDown: () => shuttingDown } });
  const handle = app.callback();
  const server = http.createServer((req, res) => {
    void handle(req, res);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.apiPort, config.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.apiPort;
  logger.info('api listening', { url: `http://${config.host}:${port}`, taskQueue: config.temporal.taskQueue });

  const shutdown = async (signal: string): Promise<void> => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info('shutting down', { signal, graceMs: config.shutdownGraceMs });
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const grace = setTimeout(() => {
      logger.warn('grace period over, closing remaining connections');
      server.closeAllConnections();
    }, config.shutdownGraceMs);
    await closed;
    clearTimeout(grace);
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
