/**
 * Brings up the services of one jest run (a fresh migrated database, a Redis, a Temporal dev server from the CLI of
 * `npm start`, or the server of TEST_TEMPORAL_ADDRESS) and hands their addresses to the suites as TEST_* variables.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadToolingConfig } from '../../lib/config';
import { createDb, migrateLatest } from '../../lib/db';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions';
import { commonDevServerArgs, DEV_NAMESPACE } from '../../temporal-config/dev-server';
import { createThrowawayDatabase, findOrStartRedis, resolveTemporalCli, Teardowns } from '../../stack';

/** The run's own database, so concurrent runs on one machine never drop each other's data. */
const TEST_DATABASE = `orderflow_test_${process.pid}`;

/** What global-teardown.ts stops: the dev server we started (if any), then the rest, last-first. */
interface SetupState {
  env: TestWorkflowEnvironment | undefined;
  teardowns: Teardowns;
}

declare global {
  var __ORDERFLOW_TEST__: SetupState | undefined;
}

export default async function globalSetup(): Promise<void> {
  const tooling = loadToolingConfig();
  const log = (line: string): void => void process.stderr.write(`[test setup] ${line}\n`);
  const teardowns = new Teardowns(log);

  // A dedicated test database (never the dev data): TEST_DATABASE_URL, else a fresh one on the local or an embedded
  // server; a Redis: TEST_REDIS_URL, else 127.0.0.1:6379 db 15, else a redis-server of our own.
  let databaseUrl = tooling.testDatabaseUrl;
  if (databaseUrl === undefined) {
    const database = await createThrowawayDatabase(TEST_DATABASE, { tmpPrefix: 'orderflow-test-pg-', log });
    log(`PostgreSQL: database ${TEST_DATABASE} on ${database.where}`);
    teardowns.add('the embedded PostgreSQL', () => database.stopServer());
    teardowns.add(`the test database ${TEST_DATABASE}`, () => database.drop());
    databaseUrl = database.url;
  }
  const db = createDb({ url: databaseUrl, poolMax: 2 });
  try {
    await migrateLatest(db);
  } finally {
    await db.destroy();
  }

  const redis = await findOrStartRedis(tooling.path, {
    url: tooling.testRedisUrl,
    local: 'redis://127.0.0.1:6379/15',
    tmpPrefix: 'orderflow-test-redis-',
  });
  if (tooling.testRedisUrl === undefined)
    log(redis.started ? `Redis: started ${redis.url}` : 'Redis: 127.0.0.1:6379 (db 15)');
  teardowns.add('Redis', redis.stop);

  const cli = await resolveTemporalCli({ tooling, progress: log });
  if (cli.source !== 'sdk-download') process.env.TEST_TEMPORAL_CLI_PATH = cli.path;
  process.env.TEST_DATABASE_URL = databaseUrl;
  process.env.TEST_REDIS_URL = redis.url;

  const existingServer = process.env.TEST_TEMPORAL_ADDRESS?.trim();
  if (existingServer) {
    process.env.TEST_TEMPORAL_NAMESPACE = process.env.TEST_TEMPORAL_NAMESPACE?.trim() || DEV_NAMESPACE;
    log(`Temporal: existing server at ${existingServer}, namespace ${process.env.TEST_TEMPORAL_NAMESPACE}`);
    globalThis.__ORDERFLOW_TEST__ = { env: undefined, teardowns };
    return;
  }

  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable:
        cli.source === 'sdk-download' ? { type: 'cached-download' } : { type: 'existing-path', path: cli.path },
      namespace: DEV_NAMESPACE,
      searchAttributes: Object.values(SEARCH_ATTRIBUTES),
      extraArgs: commonDevServerArgs(),
    },
  });
  log(`Temporal dev server at ${env.address} (CLI from ${cli.source})`);

  process.env.TEST_TEMPORAL_ADDRESS = env.address;
  process.env.TEST_TEMPORAL_NAMESPACE = DEV_NAMESPACE;
  globalThis.__ORDERFLOW_TEST__ = { env, teardowns };
}
