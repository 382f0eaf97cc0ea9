import type { Knex } from 'knex';
import { DEMO_CATALOG } from '../lib/catalog';
import { insertProductsWithLedger } from '../lib/ledger';

/**
 * Loads the demo catalog idempotently: a product that already exists keeps its stock (orders may have moved it), so
 * re-running the seed on every `npm start` never changes running data. Returns how many products it inserted.
 */
export async function seedCatalog(db: Knex): Promise<number> {
  const inserted = await insertProductsWithLedger(db, DEMO_CATALOG, { ignoreExisting: true, reason: 'demo catalog' });
  return inserted.size;
}
