import { readdirSync } from 'node:fs';
import path from 'node:path';
import knex, { type Knex } from 'knex';
import type { Logger } from './logger';

/** Where the knex migrations live; shared by `npm run migrate`, the dev stack and the test setup. */
export const MIGRATIONS_DIR = path.resolve(__dirname, '..', 'migrations');

/** Table names, defined once for every query in the project. */
export const TABLES = {
  products: 'products',
  orders: 'orders',
  orderItems: 'order_items',
  stockReservations: 'stock_reservations',
  payments: 'payments',
  orderEvents: 'order_events',
  gatewaySwitches: 'gateway_switches',
  paymentAttempts: 'payment_attempts',
  inventoryMovements: 'inventory_movements',
  exports: 'exports',
  exportPages: 'export_pages',
} as const;

/**
 * Options of a transaction that reads several tables as of one moment (PostgreSQL REPEATABLE READ: one snapshot for
 * every statement; read-only, so it never conflicts). For views that must agree across tables: an order's row, its
 * events and payments; the invariants.
 */
export const SNAPSHOT: Knex.TransactionConfig = { isolationLevel: 'repeatable read', readOnly: true };

/** Options for a knex instance on PostgreSQL. */
export interface DbOptions {
  /** `postgres://` connection string. */
  url: string;
  /** @default 10 */
  poolMax?: number;
  /**
   * Where knex's own warnings go, as one `knex warning` line with the message's first line. Unset: one `knex: ...`
   * line on stderr. Never printed: knex's "Acquire connection error" with its stack (the caller gets that error as
   * the query's rejection and reports it once, in its own words).
   */
  logger?: Logger;
}

/** knex's `log` option: its warnings, errors and deprecations as single lines (see `DbOptions.logger`). */
function knexLog(logger: Logger | undefined): Knex.Config['log'] {
  const line = (message: unknown): void => {
    const text = (typeof message === 'string' ? message : String(message)).split('\n')[0] ?? '';
    if (text.startsWith('Acquire connection error')) return;
    if (logger !== undefined) logger.warn('knex warning', { message: text });
    else process.stderr.write(`knex: ${text}\n`);
  };
  return {
    warn: line,
    error: line,
    deprecate: (method, alternative) => line(`${method} is deprecated; use ${alternative}`),
    debug: () => undefined,
  };
}

/** A knex migration module: `up` and `down`. */
interface MigrationModule {
  up(db: Knex): Promise<void>;
  down(db: Knex): Promise<void>;
}

/**
 * Migrations named without their file extension: a checkout runs `*.ts` and the image runs the compiled `*.js`, and
 * knex records names, so with extensions the two would each find the other's history "missing".
 */
export class MigrationSource implements Knex.MigrationSource<string> {
  constructor(private readonly directory: string = MIGRATIONS_DIR) {}

  /** Migration names in order, one per `*.ts`/`*.js` module (declarations and maps ignored). */
  getMigrations(): Promise<string[]> {
    const names = readdirSync(this.directory)
      .filter((file) => /\.(ts|js)$/.test(file) && !file.endsWith('.d.ts'))
      .map((file) => file.replace(/\.(ts|js)$/, ''));
    return Promise.resolve([...new Set(names)].sort());
  }

  /** The name knex records: the file name without extension. */
  getMigrationName(migration: string): string {
    return migration;
  }

  /** Loads the module, whichever extension this build has. */
  getMigration(migration: string): Promise<MigrationModule> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return Promise.resolve(require(path.join(this.directory, migration)) as MigrationModule);
  }
}

/** Builds a knex instance on PostgreSQL; the caller owns it and calls `destroy()`. */
export function createDb({ url, poolMax = 10, logger }: DbOptions): Knex {
  return knex({
    client: 'pg',
    connection: url,
    log: knexLog(logger),
    pool: { min: 0, max: poolMax },
    migrations: { migrationSource: new MigrationSource(), tableName: 'knex_migrations' },
  });
}

/** Runs `work` on a knex instance of its own (`createDb(options)`), destroyed afterwards whatever `work` did. */
export async function withDb<T>(options: DbOptions, work: (db: Knex) => Promise<T>): Promise<T> {
  const db = createDb(options);
  try {
    return await work(db);
  } finally {
    await db.destroy();
  }
}

/** Applies every pending migration; returns the names it applied. */
export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest()) as [number, string[]];
  return applied;
}

/**
 * Marks that a cancel was accepted for one workflow run of an order (`orders.cancel_requested_run_id`). The lean
 * saga's charge step of that run reads it under the order row lock and charges nothing once it is set, so a cancel
 * that lands before the charge starts means no charge (docs/saga.md). Written by the workflow (local activity
 * `markCancelRequested`) when a cancel arrives while its charge is scheduled. Returns whether an order row was there.
 */
export async function markOrderCancelRequested(db: Knex, orderId: string, runId: string): Promise<boolean> {
  const updated = await db(TABLES.orders).where({ id: orderId }).update({ cancel_requested_run_id: runId });
  return updated > 0;
}
