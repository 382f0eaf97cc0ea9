/** `npm run migrate [-- up|down|status|rollback-all]`: knex migrations on DATABASE_URL. */
import { parseCommandLine, usageError, type Command } from '../lib/cli';
import { migrateLatest } from '../lib/db';
import { DATABASE_ENVIRONMENT, runMain, withDb } from './command';

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
  environment: DATABASE_ENVIRONMENT,
  example: 'npm run migrate -- status',
};

runMain('migrate', async () => {
  const { positionals } = parseCommandLine(MIGRATE, { allowPositionals: true });
  const [command = 'up', extra] = positionals;
  if (!COMMANDS.includes(command)) usageError(MIGRATE, `unknown command '${command}'`);
  if (extra !== undefined) usageError(MIGRATE, `unexpected argument '${extra}'`);
  await withDb(2, async (db) => {
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
  });
});
