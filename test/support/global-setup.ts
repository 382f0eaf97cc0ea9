/**
 * Brings up the real services every suite talks to, once per jest run: a fresh PostgreSQL database (migrated), a
 * Redis, and a Temporal dev server started from the same CLI binary as `npm start` through
 * `TestWorkflowEnvironment.createLocal`. Their addresses reach the suites as TEST_* environment variables. (The
 * suites that need a browser or the Compose loader resolve those themselves: test/support/services.ts.)
 * When TEST_TEMPORAL_ADDRESS is already set (e.g. by `npm run test:cluster`), the suites use that Temporal server
 * instead (namespace TEST_TEMPORAL_NAMESPACE, default `default`, prepared with our search attributes beforehand).
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadToolingConfig } from '../../lib/config';
import { createDb, migrateLatest } from '../../lib/db';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions';
import { commonDevServerArgs, DEV_NAMESPACE } from '../../temporal-config/dev-server';
import { resolveTemporalCli } from '../../scripts/temporal-cli';
import { provisionTestPostgres, provisionTestRedis, type Teardown } from './provision';

interface SetupState {
  /** The dev server we started; undefined when the suites run against an existing server. */
  env: TestWorkflowEnvironment | undefined;
  teardowns: Teardown[];
}

declare global {
  var __ORDERFLOW_TEST__: SetupState | undefined;
}

export default async function globalSetup(): Promise<void> {
  const tooling = loadToolingConfig();
  const log = (line: string): void => {
    process.stderr.write(`[test setup] ${line}\n`);
  };
  const teardowns: Teardown[] = [];

  const pg = await provisionTestPostgres(tooling, log);
  teardowns.push(pg.teardown);
  const db = createDb({ url: pg.url, poolMax: 2 });
  try {
    await migrateLatest(db);
  } finally {
    await db.destroy();
  }

  const redis = await provisionTestRedis(tooling, log);
  teardowns.push(redis.teardown);

  const cli = await resolveTemporalCli({ tooling, progress: log });
  if (cli.source !== 'sdk-download') process.env.TEST_TEMPORAL_CLI_PATH = cli.path;
  process.env.TEST_DATABASE_URL = pg.url;
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
