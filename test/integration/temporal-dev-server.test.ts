import { execFileSync } from 'node:child_process';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions';
import { SEARCH_ATTRIBUTE_TYPES, devServerArgs } from '../../temporal-config/dev-server';
import { ensureSearchAttributes } from '../../temporal-config/setup';
import { temporalCliPath } from '../support/services';

describe('Temporal dev server configuration', () => {
  const address = process.env.TEST_TEMPORAL_ADDRESS ?? '';
  const namespace = process.env.TEST_TEMPORAL_NAMESPACE ?? 'default';
  let connection: Connection;

  beforeAll(async () => {
    connection = await Connection.connect({ address });
  });
  afterAll(async () => {
    await connection.close();
  });

  it('when the server runs, then `temporal operator search-attribute list` shows our three attributes', () => {
    const output = execFileSync(
      temporalCliPath(),
      ['operator', 'search-attribute', 'list', '--address', address, '--namespace', namespace, '-o', 'json'],
      { encoding: 'utf8' },
    );
    const listed = JSON.stringify(JSON.parse(output));
    for (const name of Object.keys(SEARCH_ATTRIBUTE_TYPES)) expect(listed).toContain(name);
  });

  it('the code contract and temporal-config/search-attributes.json name the same attributes', () => {
    const inCode = Object.values(SEARCH_ATTRIBUTES)
      .map((key) => key.name)
      .sort();
    expect(Object.keys(SEARCH_ATTRIBUTE_TYPES).sort()).toEqual(inCode);
  });

  it('when setup runs against a server that already has them, then it adds nothing', async () => {
    expect(await ensureSearchAttributes(connection, namespace)).toEqual([]);
  });

  it('the launcher keeps state in a file with WAL and registers the attributes', () => {
    const args = devServerArgs({ dbFilename: '.data/temporal.db', ip: '127.0.0.1', port: 7233, uiPort: 8233 });
    expect(args.join(' ')).toContain('--db-filename .data/temporal.db');
    expect(args.join(' ')).toContain('--sqlite-pragma journal_mode=wal');
    expect(args.join(' ')).toContain('--search-attribute OrderStatus=Keyword');
    expect(args.join(' ')).toContain('--ui-port 8233');
  });
});
