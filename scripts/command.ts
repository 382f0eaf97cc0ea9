/** What the commands of scripts/ share: how a failure ends, and the database the database commands work on. */
import type { Knex } from 'knex';
import { loadConfigOrExit } from '../lib/config';
import { withDb as withPool } from '../lib/db';

// How every command ends is lib/cli.ts's; re-exported so the scripts keep one import for what they share.
export { runMain } from '../lib/cli';

/** The help's environment rows of a command on DATABASE_URL (`npm run migrate`, `npm run seed`). */
export const DATABASE_ENVIRONMENT = [
  [
    'DATABASE_URL',
    'the database (unset: the embedded PostgreSQL of npm start, postgres://postgres:postgres@127.0.0.1:5433/orderflow)',
  ],
  ['EMBEDDED_PG_PORT', 'port of that embedded PostgreSQL when DATABASE_URL is unset (default 5433)'],
] as const;

/** Runs `work` on a pool of `poolMax` connections to the configured database, closed afterwards. */
export function withDb<T>(poolMax: number, work: (db: Knex) => Promise<T>): Promise<T> {
  return withPool({ url: loadConfigOrExit().databaseUrl, poolMax }, work);
}
