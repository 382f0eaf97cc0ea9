/**
 * `npm run migrate [-- up|down|status|rollback-all]`: knex migrations on DATABASE_URL.
 * - up (default): apply every pending migration
 * - down: undo the last batch
 * - rollback-all: undo every migration (empties the schema)
 * - status: list applied and pending migrations
 */
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../lib/config';
import { createDb, migrateLatest } from '../lib/db';

const USAGE = 'usage: npm run migrate [-- up|down|status|rollback-all]';

async function main(): Promise<void> {
  let command: string | undefined;
  try {
    const { positionals } = parseArgs({ args: process.argv.slice(2), options: {}, allowPositionals: true });
    command = positionals.length <= 1 ? (positionals[0] ?? 'up') : undefined;
  } catch {
    // an option: no command takes one
  }
  if (command === undefined || !['up', 'down', 'status', 'rollback-all'].includes(command)) {
    process.stderr.write(`migrate: unknown command "${process.argv.slice(2).join(' ')}"\n${USAGE}\n`);
    process.exit(2);
  }
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
