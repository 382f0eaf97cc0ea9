import type { Client } from '@temporalio/client';
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import { resolveOptions } from '../../api/deps';
import { createMetrics } from '../../api/metrics';
import { API_OPERATIONS, buildOpenApiDocument, openApiPath } from '../../api/openapi';
import { isQueryCheck } from '../../lib/http/query';
import { createRouter } from '../../api/routes';
import { loadConfig } from '../../lib/config';
import { createLogger } from '../../lib/logger';

/** The router only stores its clients; no call reaches them while routes are listed. */
function router() {
  return createRouter(
    {
      config: loadConfig({}),
      db: {} as Knex,
      redis: {} as Redis,
      temporal: {} as Client,
      logger: createLogger('test', 'silent'),
      options: resolveOptions(),
    },
    createMetrics(false),
  );
}

function routes(): string[] {
  return router().stack.flatMap((layer) =>
    layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m.toLowerCase()} ${openApiPath(String(layer.path))}`),
  );
}

describe('api/openapi', () => {
  const doc = buildOpenApiDocument() as {
    openapi: string;
    paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    components: { schemas: Record<string, unknown> };
  };
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));

  it('when the document is built, then it is OpenAPI 3.1 and serialisable', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(() => JSON.stringify(doc)).not.toThrow();
  });

  it('when the router is compared with the document, then every route is documented and every documented route exists', () => {
    expect(routes().sort()).toEqual(documented.sort());
  });

  it('when a schema is referenced, then it exists under components', () => {
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) expect(doc.components.schemas).toHaveProperty([ref as string]);
    expect(JSON.stringify(doc)).not.toContain('#/$defs/');
  });

  it('when the router is built, then every route checks its query parameters (lib/http/query.ts) before its handler', () => {
    const unchecked = router()
      .stack.filter((layer) => !layer.stack.slice(0, -1).some(isQueryCheck))
      .map((layer) => `${layer.methods.join(',')} ${String(layer.path)}`);
    expect(unchecked).toEqual([]);
  });

  it('when any operation is listed, then it documents the 400 of an unknown query parameter', () => {
    for (const op of API_OPERATIONS) expect(Object.keys(op.responses)).toContain('400');
  });

  it('when an operation needs a token, then it documents 401 and 429; when it reads a body, then 400, 413 and 415', () => {
    for (const op of API_OPERATIONS) {
      const statuses = Object.keys(op.responses).map(Number);
      if (op.auth) expect(statuses).toEqual(expect.arrayContaining([401, 429]));
      if (op.requestBody !== undefined) expect(statuses).toEqual(expect.arrayContaining([400, 413, 415]));
    }
  });
});
