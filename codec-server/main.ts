/**
 * Codec server entry (`node --import tsx codec-server/main.ts`): serves `createCodecServer` on HOST:CODEC_PORT for the
 * Temporal Web UI and CLI, and stops on SIGTERM/SIGINT once in-flight requests finished (bounded by SHUTDOWN_GRACE).
 * It holds the payload keys: run it only where operators may reach it, behind TLS outside a developer machine.
 */
import { parseCommandLine, processCommand } from '../lib/cli';
import { loadConfigOrExit } from '../lib/config';
import { listen } from '../lib/http/listen';
import { createLogger } from '../lib/logger';
import { createCodecServer } from './server';

async function main(): Promise<void> {
  parseCommandLine(processCommand('codec-server'), {});
  const config = loadConfigOrExit();
  const logger = createLogger('codec-server', config.logLevel);
  const server = createCodecServer({ config, logger });
  server.keepAliveTimeout = 5_000;
  const { port } = await listen(server, config.codecPort, config.host);
  logger.info('codec server listening', {
    url: `http://${config.host}:${port}`,
    namespace: config.temporal.namespace,
    corsOrigins: config.codecCorsOrigins,
    activeKeyId: config.payloadCodecKeys[0]?.id,
  });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    const grace = setTimeout(() => server.closeAllConnections(), config.shutdownGraceMs);
    server.close(() => {
      clearTimeout(grace);
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop(signal));
}

main().catch((error: unknown) => {
  createLogger('codec-server').error('codec server stopped on an error', { error });
  process.exit(1);
});
