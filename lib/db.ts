import knex, { type Knex } from 'knex';
import path from 'node:path';

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
} as const;

/** Options for a knex instance on PostgreSQL. */
export interface DbOptions {
  /** `postgres://` connection string. */
  url: string;
  /** @default 10 */
  poolMax?: number;
}

/** Builds a knex instance on PostgreSQL; the caller owns it and calls `destroy()`. */
export function createDb({ url, poolMax = 10 }: DbOptions): Knex {
  return knex({
    client: 'pg',
    connection: url,
    pool: { min: 0, max: poolMax },
    migrations: { directory: MIGRATIONS_DIR, loadExtensions: ['.ts', '.js'], tableName: 'knex_migrations' },
  });
}

/** Applies every pending migration; returns the names it applied. */
export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest()) as [number, string[]];
  return applied;
}
