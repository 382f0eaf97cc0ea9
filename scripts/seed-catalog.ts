import type { Knex } from 'knex';
import { DEMO_CATALOG } from '../lib/catalog';
import { TABLES } from '../lib/db';

/**
 * Loads the demo catalog idempotently: a product that already exists keeps its stock (orders may have moved it), so
 * re-running the seed on every `npm start` never changes running data. Returns how many products it inserted.
 */
export async function seedCatalog(db: Knex): Promise<number> {
  const inserted = await db(TABLES.products)
    .insert(DEMO_CATALOG.map((p) => ({ sku: p.sku, name: p.name, price_cents: p.priceCents, stock: p.stock })))
    .onConflict('sku')
    .ignore()
    .returning('id');
  return inserted.length;
}
