/**
 * Test helper process: starts the embedded PostgreSQL the way `npm start` does (its own process, through tsx, so a
 * test can stop it like Ctrl-C would), prints its URL on stdout once it answers, logs on stderr, and stops it when
 * stdin closes. A failure prints `setup: <message>` (a SetupError) or `unexpected: <message>` and exits 1.
 *
 * Usage: node --import tsx test/support/embedded-postgres-child.ts DATA_DIR PORT
 */
import { SetupError, startEmbeddedPostgres } from '../../stack';

const [dataDir = '', port = ''] = process.argv.slice(2);
startEmbeddedPostgres(dataDir, Number(port), (line) => process.stderr.write(`${line}\n`)).then(
  (server) => {
    process.stdout.write(`${server.url}\n`);
    process.stdin.on('end', () => void server.stop().then(() => process.exit(0)));
    process.stdin.resume();
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${error instanceof SetupError ? 'setup' : 'unexpected'}: ${message}\n`);
    process.exit(1);
  },
);
