/**
 * Codec server entry (`node --import tsx codec-server/main.ts`): serves `createCodecServer` on HOST:CODEC_PORT for the
 * Temporal Web UI and CLI, and stops on SIGTERM/SIGINT once in-flight requests finished (bounded by SHUTDOWN_GRACE).
 * It holds the payload keys: run it only where operators may reach it, behind TLS outside a developer machine.
 */
import { parseCommandLine, type Command } from '../lib/cli';
import { loadConfigOrExit } from '../lib/config';
import { listen } from '../lib/http/listen';
import { createLogger } from '../lib/logger';
import { createCodecServer } from './server';

const CODEC_SERVER: Command = {
  name: 'codec-server',
  usage: 'usage: npm run codec-server (no arguments: settings come from the environment)',
  summary:
    'Runs the payload codec server for the Temporal Web UI and CLI on HOST:CODEC_PORT: it decodes the encrypted workflow payloads for operators signed in with an admin token. It holds the payload keys: run it only where operators may reach it, behind TLS outside a developer machine. SIGTERM or SIGINT stops it once in-flight requests finished.',
  environment: [
    ['HOST, CODEC_PORT', 'where it listens (default 127.0.0.1:8888)'],
    ['PAYLOAD_CODEC_KEYS', 'the payload keys, as the API and workers have them (required in production)'],
    ['JWT_SECRET', "verifies the operators' admin tokens (default: the dev secret)"],
    ['CODEC_CORS_ORIGINS', 'origins allowed to call it (default: the Temporal UI on :8233)'],
    ['TEMPORAL_NAMESPACE', 'the namespace whose payloads it decodes (default "default")'],
    ['SHUTDOWN_GRACE', 'how long in-flight requests may finish on SIGTERM (default 10s)'],
  ],
  example: 'CODEC_PORT=8889 npm run codec-server',
  more: 'docs/security.md; every variable with its default and meaning: README.md, Configuration',
};

async function main(): Promise<void> {
  parseCommandLine(CODEC_SERVER, {});
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
