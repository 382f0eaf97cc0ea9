/**
 * `npm run migrate [-- up|down|status|rollback-all]`: knex migrations on DATABASE_URL.
 * - up (default): apply every pending migration
 * - down: undo the last batch
 * - rollback-all: undo every migration (empties the schema)
 * - status: list applied and pending migrations
 */
import { parseCommandLine, usageError, type Command } from '../lib/cli';
import { loadConfigOrExit } from '../lib/config';
import { createDb, migrateLatest } from '../lib/db';

const COMMANDS = ['up', 'down', 'status', 'rollback-all'];

const MIGRATE: Command = {
  name: 'migrate',
  usage: 'usage: npm run migrate [-- up|down|status|rollback-all]',
  summary: 'Runs the knex migrations of migrations/ on DATABASE_URL.',
  arguments: [
    ['up', 'apply every pending migration (the default)'],
    ['down', 'undo the last batch'],
    ['status', 'list applied and pending migrations'],
    ['rollback-all', 'undo every migration (empties the schema)'],
  ],
  environment: [
    [
      'DATABASE_URL',
      'the database (unset: the embedded PostgreSQL of npm start, postgres://postgres:postgres@127.0.0.1:5433/orderflow)',
    ],
    ['EMBEDDED_PG_PORT', 'port of that embedded PostgreSQL when DATABASE_URL is unset (default 5433)'],
  ],
  example: 'npm run migrate -- status',
};

async function main(): Promise<void> {
  const { positionals } = parseCommandLine(MIGRATE, { allowPositionals: true });
  const [command = 'up', extra] = positionals;
  if (!COMMANDS.includes(command)) usageError(MIGRATE, `unknown command '${command}'`);
  if (extra !== undefined) usageError(MIGRATE, `unexpected argument '${extra}'`);
  const config = loadConfigOrExit();
  const db = createDb({ url: config.databaseUrl, poolMax: 2 });
  try {
    if (command === 'up') {
      const applied = await migrateLatest(db);
      process.stdout.write(
        applied.length === 0 ? 'migrate: already up to date\n' : `migrate: applied ${applied.join(', ')}\n`,
      );
    } else if (command === 'down' || command === 'rollback-all') {
      const [, undone] = (await db.migrate.rollback(undefined, command === 'rollback-all')) as [number, string[]];
      process.stdout.write(
        undone.length === 0 ? 'migrate: nothing to undo\n' : `migrate: undid ${undone.join(', ')}\n`,
      );
    } else {
      const [done, pending] = (await db.migrate.list()) as [{ name: string }[], { file: string }[]];
      for (const m of done) process.stdout.write(`applied  ${m.name}\n`);
      for (const m of pending) process.stdout.write(`pending  ${m.file}\n`);
    }
  } finally {
    await db.destroy();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`migrate: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
