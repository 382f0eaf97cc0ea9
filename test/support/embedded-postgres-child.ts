/**
 * `node --import tsx test/support/embedded-postgres-child.ts DATA_DIR PORT`: the embedded PostgreSQL in a process of
 * its own, as `npm start` runs it; prints its URL once it answers and stops it when stdin closes.
 */
import { SetupError, startEmbeddedPostgres } from '../../stack';
import { messageOf } from '../../lib/error-text';

const [dataDir = '', port = ''] = process.argv.slice(2);
startEmbeddedPostgres(dataDir, Number(port), (line) => process.stderr.write(`${line}\n`)).then(
  (server) => {
    process.stdout.write(`${server.url}\n`);
    process.stdin.on('end', () => void server.stop().then(() => process.exit(0)));
    process.stdin.resume();
  },
  (error: unknown) => {
    const message = messageOf(error);
    process.stderr.write(`${error instanceof SetupError ? 'setup' : 'unexpected'}: ${message}\n`);
    process.exit(1);
  },
);
