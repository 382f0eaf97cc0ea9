/**
 * `npm run realtime`: the Socket.IO relay on `config.host:config.realtimePort` (GET /health, the demo page at /).
 * Stops gracefully on SIGTERM / SIGINT: clients are disconnected (they reconnect to another relay and catch up with
 * `subscribe` + `lastSeq`), then the stream reader, Redis and PostgreSQL connections close.
 */
import { parseCommandLine, processCommand } from '../lib/cli';
import { loadConfigOrExit } from '../lib/config';
import { createDb } from '../lib/db';
import { createLogger } from '../lib/logger';
import { createRelay } from './relay';

async function main(): Promise<void> {
  parseCommandLine(processCommand('realtime'), {});
  const config = loadConfigOrExit();
  const logger = createLogger('realtime', config.logLevel);
  const db = createDb({ url: config.databaseUrl, poolMax: config.dbPoolMax, logger });
  const relay = createRelay({ config, db, logger });

  // A Redis or PostgreSQL outage must never take the relay down; log what slipped through and keep serving.
  process.on('unhandledRejection', (reason) => logger.error('unhandled rejection', { error: reason }));

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    const force = setTimeout(() => {
      logger.warn('shutdown grace period elapsed; exiting', { graceMs: config.shutdownGraceMs });
      process.exit(1);
    }, config.shutdownGraceMs);
    force.unref();
    relay
      .close()
      .then(() => db.destroy())
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error('shutdown failed', { error });
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  const address = await relay.listen(config.realtimePort, config.host);
  logger.info('relay listening', {
    url: `http://${config.host}:${address.port}`,
    host: address.address,
    port: address.port,
  });
  await relay.start();
  logger.info('reading the events stream', { prefix: config.redisKeyPrefix });
}

main().catch((error: unknown) => {
  process.stderr.write(`realtime: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
