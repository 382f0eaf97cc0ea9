/**
 * Registers our search attributes on a namespace that already exists (a self-hosted cluster, or a dev server someone
 * else started). The dev server gets them from `--search-attribute` flags instead; both read
 * `search-attributes.json`, the one definition. Run directly: `node --import tsx temporal-config/setup.ts`.
 */
import { loadConfigOrExit } from '../lib/config';
import { Connection as TemporalConnection } from '@temporalio/client';
import { connectionOptions } from '../lib/temporal';
import { SEARCH_ATTRIBUTE_TYPES } from './dev-server';

/** Proto enum values of IndexedValueType for the types we use. */
const INDEXED_VALUE_TYPES: Record<string, number> = {
  Text: 1,
  Keyword: 2,
  Int: 3,
  Double: 4,
  Bool: 5,
  Datetime: 6,
  KeywordList: 7,
};

/** Adds whichever of our search attributes the namespace lacks; returns the names it added. */
export async function ensureSearchAttributes(connection: TemporalConnection, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set([...Object.keys(existing.customAttributes ?? {}), ...Object.keys(existing.systemAttributes ?? {})]);
  const missing: Record<string, number> = {};
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTE_TYPES)) {
    const code = INDEXED_VALUE_TYPES[type];
    if (code === undefined) throw new Error(`search-attributes.json: unknown type ${type} for ${name}`);
    if (!known.has(name)) missing[name] = code;
  }
  if (Object.keys(missing).length > 0) {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  }
  return Object.keys(missing);
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const connection = await TemporalConnection.connect(connectionOptions(config.temporal));
  try {
    const added = await ensureSearchAttributes(connection, config.temporal.namespace);
    process.stdout.write(
      added.length === 0
        ? `search attributes already registered on ${config.temporal.namespace}\n`
        : `registered ${added.join(', ')} on ${config.temporal.namespace}\n`,
    );
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`temporal-config/setup: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
