/**
 * Test service provisioning: a dedicated test database (never the dev data) and a Redis, found or started.
 * Order: TEST_DATABASE_URL / TEST_REDIS_URL; else the local servers on their standard ports; else an embedded
 * PostgreSQL or a redis-server on a free port under a temporary directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ToolingConfig } from '../../lib/config';
import {
  createThrowawayDatabase,
  freePort,
  redisAnswers,
  startRedisServer,
  type Provisioned,
} from '../../scripts/services';

export type { Teardown } from '../../scripts/services';

/**
 * Name of the database one jest run uses: its own, so concurrent runs on one machine never drop each other's data.
 * Created fresh at the start and dropped at the end.
 */
export const TEST_DATABASE = `orderflow_test_${process.pid}`;

const LOCAL_REDIS = 'redis://127.0.0.1:6379/15';

/** Provides a fresh, empty test database. */
export async function provisionTestPostgres(tooling: ToolingConfig, log: (line: string) => void): Promise<Provisioned> {
  if (tooling.testDatabaseUrl !== undefined) {
    return { url: tooling.testDatabaseUrl, started: false, teardown: () => Promise.resolve() };
  }
  const database = await createThrowawayDatabase(TEST_DATABASE, { tmpPrefix: 'orderflow-test-pg-', log });
  log(`PostgreSQL: database ${TEST_DATABASE} on ${database.where}`);
  return {
    url: database.url,
    started: database.embedded,
    teardown: async () => {
      await database.drop();
      await database.stopServer();
    },
  };
}

/** Provides a Redis for the suites (each suite namespaces its keys with its own prefix). */
export async function provisionTestRedis(tooling: ToolingConfig, log: (line: string) => void): Promise<Provisioned> {
  if (tooling.testRedisUrl !== undefined) {
    return { url: tooling.testRedisUrl, started: false, teardown: () => Promise.resolve() };
  }
  if (await redisAnswers(LOCAL_REDIS)) {
    log('Redis: 127.0.0.1:6379 (db 15)');
    return { url: LOCAL_REDIS, started: false, teardown: () => Promise.resolve() };
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orderflow-test-redis-'));
  const server = await startRedisServer(tooling.path, dir, await freePort(), false);
  log(`Redis: started ${server.url}`);
  return {
    ...server,
    teardown: async () => {
      await server.teardown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
