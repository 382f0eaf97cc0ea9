/** `npm run seed`: loads the demo catalog into DATABASE_URL (idempotent). Takes no arguments; any is a usage error. */
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../lib/config';
import { createDb } from '../lib/db';
import { seedCatalog } from '../lib/catalog';

async function main(): Promise<void> {
  try {
    parseArgs({ args: process.argv.slice(2), options: {}, strict: true });
  } catch (error) {
    process.stderr.write(`seed: ${(error as Error).message}\nusage: npm run seed (no arguments)\n`);
    process.exit(2);
  }
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
