/** A suite's way to the services of global-setup.ts: a config of its own (queue, Redis prefix), clients, tools. */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type Redis from 'ioredis';
import { loadConfig, loadToolingConfig, type Config } from '../../lib/config';
import { createDb, migrateLatest } from '../../lib/db';
import { insertProductsWithLedger, type ProductStatus } from '../../lib/ledger';
import { createRedis } from '../../lib/redis';
import { createThrowawayDatabase, resolveChromium, resolveComposeConfig, withDatabase } from '../../stack';

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set: run the suites through jest (globalSetup)`);
  return value;
}

/** A suite's own database (`privateDatabase`): its URL, a pool on it, and `drop` for afterAll. */
export interface PrivateDatabase {
  url: string;
  db: Knex;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

/** A fresh database of the suite's own on the test server (migrated unless `migrate: false`), for checks of all rows. */
export async function privateDatabase(label: string, { migrate = true } = {}): Promise<PrivateDatabase> {
  const adminUrl = withDatabase(required('TEST_DATABASE_URL'), 'postgres');
  const database = await createThrowawayDatabase(`orderflow_${label}_${process.pid}`, {
    adminUrl,
    tmpPrefix: 'orderflow-test-', // unused: the test server is given
    log: () => undefined,
  });
  const { url } = database;
  const db = createDb({ url, poolMax: 2 });
  if (migrate) {
    await migrateLatest(db).catch(async (error: unknown) => {
      await db.destroy();
      throw error;
    });
  }
  return {
    url,
    db,
    async drop() {
      await db.destroy();
      await database.drop();
    },
  };
}

/** Path of the Temporal CLI the dev server runs from (for `temporal workflow ...` calls in tests). */
export function temporalCliPath(): string {
  return required('TEST_TEMPORAL_CLI_PATH');
}

/** Headless Chromium for browser tests (stack/tools.ts; the `npm test` launcher has provisioned it). */
export function chromiumPath(): string {
  return resolveChromium(loadToolingConfig());
}

/** The Compose loader binary (stack/tools.ts; the `npm test` launcher has built it). */
export function composeConfigPath(): Promise<string> {
  return resolveComposeConfig(loadToolingConfig());
}

/** A config on the test services; `overrides` are environment variables as a user would set them. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  const suite = randomUUID().slice(0, 8);
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: required('TEST_DATABASE_URL'),
    REDIS_URL: required('TEST_REDIS_URL'),
    REDIS_KEY_PREFIX: `orderflow-test:${suite}:`,
    TEMPORAL_ADDRESS: required('TEST_TEMPORAL_ADDRESS'),
    TEMPORAL_NAMESPACE: required('TEST_TEMPORAL_NAMESPACE'),
    TEMPORAL_TASK_QUEUE: `orders-test-${suite}`,
    JWT_SECRET: 'test-secret-0123456789abcdef0123456789',
    PAYMENT_LATENCY_MS: '0',
    PAYMENT_SLOW_MS: '1500',
    PAYMENT_RETRY_INITIAL_INTERVAL: '50ms',
    PAYMENT_RETRY_MAX_INTERVAL: '200ms',
    PORT: '0',
    REALTIME_PORT: '0',
    METRICS_PORT: '0',
    ...overrides,
  });
}

/** A knex instance on the test database; destroy it in afterAll. */
export function testDb(config: Config, poolMax = 10): Knex {
  return createDb({ url: config.databaseUrl, poolMax });
}

/** A Redis client on the test Redis; quit it in afterAll. */
export function testRedis(config: Config): Redis {
  return createRedis(config.redisUrl);
}

/** A SKU unique to this run, so suites sharing the test database never collide. */
export function uniqueSku(label: string): string {
  return `T-${label.toUpperCase().replace(/[^A-Z0-9]/g, '')}-${randomUUID().slice(0, 8).toUpperCase()}`;
}

/** Inserts products (published unless `status` says otherwise) with their initial movements; ids by SKU. */
export async function insertProducts(
  db: Knex,
  products: {
    sku: string;
    stock: number;
    priceCents?: number;
    name?: string;
    status?: ProductStatus;
    lowStockThreshold?: number;
  }[],
): Promise<Map<string, number>> {
  return insertProductsWithLedger(
    db,
    products.map((p) => ({ ...p, name: p.name ?? p.sku, priceCents: p.priceCents ?? 1000 })),
  );
}
