/** `npm run seed`: loads the demo catalog into DATABASE_URL (idempotent). Takes no arguments (lib/cli.ts). */
import { parseCommandLine, type Command } from '../lib/cli';
import { loadConfigOrExit } from '../lib/config';
import { createDb } from '../lib/db';
import { seedCatalog } from '../lib/catalog';

const SEED: Command = {
  name: 'seed',
  usage: 'usage: npm run seed (no arguments)',
  summary: 'Loads the demo catalog into DATABASE_URL. Idempotent: products already there keep their stock.',
  environment: [
    [
      'DATABASE_URL',
      'the database (unset: the embedded PostgreSQL of npm start, postgres://postgres:postgres@127.0.0.1:5433/orderflow)',
    ],
    ['EMBEDDED_PG_PORT', 'port of that embedded PostgreSQL when DATABASE_URL is unset (default 5433)'],
  ],
  example: 'DATABASE_URL=postgres://postgres@127.0.0.1:5432/orderflow npm run seed',
};

async function main(): Promise<void> {
  parseCommandLine(SEED, {});
  const config = loadConfigOrExit();
  const db = createDb({ url: config.databaseUrl, poolMax: 2 });
  try {
    const count = await seedCatalog(db);
    process.stdout.write(`seed: ${count} new products (existing ones keep their stock)\n`);
  } finally {
    await db.destroy();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`seed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
