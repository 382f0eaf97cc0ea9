/** `npm run seed`: loads the demo catalog into DATABASE_URL (idempotent). */
import { parseCommandLine, type Command } from '../lib/cli';
import { seedCatalog } from '../lib/catalog';
import { DATABASE_ENVIRONMENT, runMain, withDb } from './command';

const SEED: Command = {
  name: 'seed',
  usage: 'usage: npm run seed (no arguments)',
  summary: 'Loads the demo catalog into DATABASE_URL. Idempotent: products already there keep their stock.',
  environment: DATABASE_ENVIRONMENT,
  example: 'DATABASE_URL=postgres://postgres@127.0.0.1:5432/orderflow npm run seed',
};

runMain('seed', async () => {
  parseCommandLine(SEED, {});
  const count = await withDb(2, seedCatalog);
  process.stdout.write(`seed: ${count} new products (existing ones keep their stock)\n`);
});
