/** The demo catalog `npm start` and `npm run seed` load: about 20 products with stock, prices in cents. */
import type { Knex } from 'knex';
import { insertProductsWithLedger } from './ledger';

/** One demo product (price in cents). */
export interface CatalogProduct {
  sku: string;
  name: string;
  priceCents: number;
  stock: number;
}

/** Demo products; SKUs are stable so the seed can be re-run safely. */
export const DEMO_CATALOG: readonly CatalogProduct[] = [
  { sku: 'TEE-BLACK-M', name: 'Black T-shirt (M)', priceCents: 1900, stock: 120 },
  { sku: 'TEE-BLACK-L', name: 'Black T-shirt (L)', priceCents: 1900, stock: 100 },
  { sku: 'TEE-WHITE-M', name: 'White T-shirt (M)', priceCents: 1900, stock: 80 },
  { sku: 'HOODIE-GREY-M', name: 'Grey hoodie (M)', priceCents: 4900, stock: 40 },
  { sku: 'HOODIE-GREY-L', name: 'Grey hoodie (L)', priceCents: 4900, stock: 35 },
  { sku: 'CAP-NAVY', name: 'Navy cap', priceCents: 1500, stock: 60 },
  { sku: 'MUG-LOGO', name: 'Logo mug', priceCents: 1200, stock: 200 },
  { sku: 'MUG-TRAVEL', name: 'Travel mug', priceCents: 2400, stock: 50 },
  { sku: 'STICKER-PACK', name: 'Sticker pack', priceCents: 500, stock: 500 },
  { sku: 'NOTEBOOK-A5', name: 'A5 notebook', priceCents: 900, stock: 150 },
  { sku: 'PEN-STEEL', name: 'Steel pen', priceCents: 1100, stock: 90 },
  { sku: 'TOTE-CANVAS', name: 'Canvas tote bag', priceCents: 1600, stock: 70 },
  { sku: 'SOCKS-STRIPE', name: 'Striped socks', priceCents: 800, stock: 110 },
  { sku: 'BOTTLE-STEEL', name: 'Steel water bottle', priceCents: 2800, stock: 45 },
  { sku: 'POSTER-A2', name: 'A2 poster', priceCents: 1400, stock: 30 },
  { sku: 'KEYCHAIN', name: 'Keychain', priceCents: 600, stock: 250 },
  { sku: 'BEANIE-RED', name: 'Red beanie', priceCents: 1800, stock: 25 },
  { sku: 'JACKET-RAIN', name: 'Rain jacket', priceCents: 8900, stock: 12 },
  { sku: 'BACKPACK-DAY', name: 'Day backpack', priceCents: 6500, stock: 15 },
  { sku: 'LIMITED-PRINT', name: 'Limited print (3 left)', priceCents: 12000, stock: 3 },
];

/**
 * Loads the demo catalog idempotently: a product that already exists keeps its stock (orders may have moved it), so
 * re-running the seed on every `npm start` never changes running data. Returns how many products it inserted.
 */
export async function seedCatalog(db: Knex): Promise<number> {
  const inserted = await insertProductsWithLedger(db, DEMO_CATALOG, { ignoreExisting: true, reason: 'demo catalog' });
  return inserted.size;
}
