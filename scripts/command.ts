/** What the commands of scripts/ share: how a failure ends, and the database the database commands work on. */
import type { Knex } from 'knex';
import { loadConfigOrExit } from '../lib/config';
import { createDb } from '../lib/db';

/** Runs a command's `main`; a failure ends in one line, `<prefix>: <message>`, and exit code 1. */
export function runMain(prefix: string, main: () => unknown): void {
  Promise.resolve()
    .then(main)
    .catch((error: unknown) => {
      process.stderr.write(`${prefix}: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    });
}

/** The help's environment rows of a command on DATABASE_URL (`npm run migrate`, `npm run seed`). */
export const DATABASE_ENVIRONMENT = [
  [
    'DATABASE_URL',
    'the database (unset: the embedded PostgreSQL of npm start, postgres://postgres:postgres@127.0.0.1:5433/orderflow)',
  ],
  ['EMBEDDED_PG_PORT', 'port of that embedded PostgreSQL when DATABASE_URL is unset (default 5433)'],
] as const;

/** Runs `work` on a pool of `poolMax` connections to the configured database, closed afterwards. */
export async function withDb<T>(poolMax: number, work: (db: Knex) => Promise<T>): Promise<T> {
  const db = createDb({ url: loadConfigOrExit().databaseUrl, poolMax });
  try {
    return await work(db);
  } finally {
    await db.destroy();
  }
}
