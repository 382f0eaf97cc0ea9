/**
 * Payment data out of sight (docs/design.md, Temporal contract): the encryption codec, its key rotation, the codec server
 * the Temporal Web UI and CLI decode through, and an order run end to end with encryption on, checked the way an
 * attacker with read access to Temporal would look at it: `temporal workflow show`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import http from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { Runtime, type Worker } from '@temporalio/worker';
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import { createActivities, createSimulatedGateway, gatewaySettingsFromConfig } from '../../activities';
import { signToken } from '../../lib/auth';
import { SESSION_COOKIE } from '../../codec-server/operator-auth';
import { createCodecServer } from '../../codec-server/server';
import {
  createDataConverter,
  EncryptionCodec,
  ENCRYPTED_ENCODING,
  KEY_ID_METADATA,
  PayloadCodecError,
} from '../../lib/codec';
import { loadConfig, type Config } from '../../lib/config';
import { TABLES } from '../../lib/db';
import { createLogger } from '../../lib/logger';
import { connectionOptions, connectWorker } from '../../lib/temporal';
import { bundleOrderWorkflows, createOrderWorker } from '../../worker/create-worker';
import { temporalLogger } from '../../worker/temporal-logger';
import { SEARCH_ATTRIBUTES, statusQuery, WORKFLOW_TYPE, workflowIdFor } from '../../workflows/definitions';
import { orderInput, startOrder, temporalCli } from '../support/saga-helpers';
import { insertProducts, testConfig, testDb, testRedis, uniqueSku } from '../support/services';
import { waitFor } from '../support/wait';

const UI_ORIGIN = 'http://localhost:8233';
const utf8 = new TextDecoder();

/** A codec key list as PAYLOAD_CODEC_KEYS spells it, parsed by the real config parser. */
function keys(...ids: string[]): Config['payloadCodecKeys'] {
  const raw = ids.map((id) => `${id}:${randomBytes(32).toString('base64')}`).join(',');
  return loadConfig({ PAYLOAD_CODEC_KEYS: raw }).payloadCodecKeys;
}

function metadataText(payload: Payload, key: string): string | undefined {
  const value = payload.metadata?.[key];
  return value === undefined || value === null ? undefined : utf8.decode(value);
}

/** Every string in a JSON document, and the text of every string that is base64 (payload data is). */
function texts(value: unknown): string[] {
  if (typeof value === 'string') {
    const decoded = /^[A-Za-z0-9+/]+={0,2}$/.test(value) ? [Buffer.from(value, 'base64').toString('latin1')] : [];
    return [value, ...decoded];
  }
  if (Array.isArray(value)) return value.flatMap(texts);
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(texts);
  return [];
}

/**
 * Every payload object (`{ metadata: { encoding } }`) in a history exported as JSON, except search attributes: those
 * are indexed by the server, so no codec touches them (and ours carry no payment data).
 */
function payloadsIn(value: unknown): { metadata: Record<string, string>; data?: string }[] {
  if (Array.isArray(value)) return value.flatMap(payloadsIn);
  if (typeof value !== 'object' || value === null) return [];
  const record = value as Record<string, unknown>;
  const metadata = record.metadata as Record<string, unknown> | undefined;
  const own = typeof metadata?.encoding === 'string' ? [record as { metadata: Record<string, string> }] : [];
  const nested = Object.entries(record).filter(([key]) => key !== 'searchAttributes');
  return [...own, ...nested.flatMap(([, item]) => payloadsIn(item))];
}

/**
 * Payloads the SDK itself writes as plain JSON, beside ours: a patch marker's patch id and a local activity marker's
 * bookkeeping (activity type and id, attempt, times). The local activity's result in the same marker is ours.
 */
function sdkMarkerPayloads(history: { events: Record<string, unknown>[] }): unknown[] {
  const sdkFields: Record<string, string> = { core_patch: 'patch-data', core_local_activity: 'data' };
  return history.events.flatMap((event) => {
    const marker = event.markerRecordedEventAttributes as
      { markerName: string; details: Record<string, { payloads: unknown[] }> } | undefined;
    const field = marker === undefined ? undefined : sdkFields[marker.markerName];
    return field === undefined ? [] : (marker?.details[field]?.payloads ?? []);
  });
}

/** Names of every search attribute a history upserts. */
function searchAttributeNames(history: { events: Record<string, unknown>[] }): Set<string> {
  const names = history.events.flatMap((event) => {
    const upsert = event.upsertWorkflowSearchAttributesEventAttributes as
      { searchAttributes: { indexedFields: Record<string, unknown> } } | undefined;
    return Object.keys(upsert?.searchAttributes.indexedFields ?? {});
  });
  return new Set(names);
}

describe('the encryption codec', () => {
  const payload = defaultPayloadConverter.toPayload({ paymentToken: 'tok_codec_unit', amountCents: 2500 });

  test('when a payload is encoded, then it is ciphertext under the active key id and decodes back to the original', async () => {
    const codec = new EncryptionCodec(keys('k2', 'k1'));
    const [encoded] = await codec.encode([payload]);

    expect(metadataText(encoded!, 'encoding')).toBe(ENCRYPTED_ENCODING);
    expect(metadataText(encoded!, KEY_ID_METADATA)).toBe('k2');
    expect(Buffer.from(encoded!.data!).toString('latin1')).not.toContain('tok_codec_unit');
    const [decoded] = await codec.decode([encoded!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual({
      paymentToken: 'tok_codec_unit',
      amountCents: 2500,
    });
    expect(metadataText(decoded!, 'encoding')).toBe('json/plain');
  });

  test('when the same payload is encoded twice, then the ciphertexts differ (a fresh IV each time)', async () => {
    const codec = new EncryptionCodec(keys('k1'));
    const [first, second] = await codec.encode([payload, payload]);
    expect(Buffer.from(first!.data!).equals(Buffer.from(second!.data!))).toBe(false);
    expect(Buffer.from(first!.data!).subarray(0, 12).equals(Buffer.from(second!.data!).subarray(0, 12))).toBe(false);
  });

  test('when keys rotate, then payloads under the old key still decode while it is listed, and fail once it is not', async () => {
    const [oldKey] = keys('2024-01');
    const [newKey] = keys('2025-06');
    const before = new EncryptionCodec([oldKey!]);
    const rotated = new EncryptionCodec([newKey!, oldKey!]);
    const retired = new EncryptionCodec([newKey!]);
    const [old] = await before.encode([payload]);

    const [decoded] = await rotated.decode([old!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toMatchObject({ paymentToken: 'tok_codec_unit' });
    const [fresh] = await rotated.encode([payload]);
    expect(metadataText(fresh!, KEY_ID_METADATA)).toBe('2025-06');
    await expect(retired.decode([old!])).rejects.toThrow(PayloadCodecError);
    await expect(retired.decode([old!])).rejects.toThrow(/unknown key id "2024-01"/);
    await expect(retired.decode([fresh!])).resolves.toHaveLength(1);
  });

  test('when a ciphertext byte, the tag or the key id is tampered with, then decoding fails', async () => {
    const codec = new EncryptionCodec(keys('a', 'b'));
    const [encoded] = await codec.encode([payload]);
    const data = Buffer.from(encoded!.data!);

    const flipped = Buffer.from(data);
    flipped[20] = (flipped[20] ?? 0) ^ 0x01;
    await expect(codec.decode([{ ...encoded!, data: flipped }])).rejects.toThrow(/failed authentication/);
    const truncated = data.subarray(0, data.length - 1);
    await expect(codec.decode([{ ...encoded!, data: truncated }])).rejects.toThrow(/failed authentication/);
    const otherKey = { ...encoded!.metadata, [KEY_ID_METADATA]: new TextEncoder().encode('b') };
    await expect(codec.decode([{ metadata: otherKey, data }])).rejects.toThrow(/failed authentication with key "b"/);
    const noKey = { encoding: encoded!.metadata!.encoding! };
    await expect(codec.decode([{ metadata: noKey, data }])).rejects.toThrow(/no encryption-key-id/);
  });

  test('when a payload was written before encryption was on, then decoding passes it through unchanged', async () => {
    const codec = new EncryptionCodec(keys('k1'));
    await expect(codec.decode([payload])).resolves.toEqual([payload]);
  });
});

describe('the codec server', () => {
  let config: Config;
  let server: http.Server;
  let url: string;
  let admin: string;
  let customer: string;

  beforeAll(async () => {
    config = testConfig();
    server = createCodecServer({ config, logger: createLogger('codec-server', 'silent') });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    admin = signToken(`ops-${randomUUID()}`, config.jwtSecret, { role: 'admin' });
    customer = signToken(`customer-${randomUUID()}`, config.jwtSecret);
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Namespace': config.temporal.namespace, ...headers },
      body: JSON.stringify(body),
    });
  }

  /** What the Web UI sends: one payload in proto JSON, as `temporal workflow show -o json` prints it. */
  async function encryptedJson(value: unknown) {
    const [encoded] = await createDataConverter(config).payloadCodecs![0]!.encode([
      defaultPayloadConverter.toPayload(value),
    ]);
    return {
      metadata: Object.fromEntries(
        Object.entries(encoded!.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
      ),
      data: Buffer.from(encoded!.data!).toString('base64'),
    };
  }

  test('when an admin decodes an encrypted payload, then the plain JSON payload comes back', async () => {
    const encrypted = await encryptedJson({ paymentToken: 'tok_server_decode' });
    const response = await post('/decode', { payloads: [encrypted] }, { Authorization: `Bearer ${admin}` });

    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    expect(body.payloads).toHaveLength(1);
    expect(Buffer.from(body.payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(body.payloads[0]!.data, 'base64').toString())).toEqual({
      paymentToken: 'tok_server_decode',
    });
  });

  test('when the endpoint sits under a path prefix (as a proxy may mount it), then /<prefix>/decode decodes', async () => {
    const encrypted = await encryptedJson({ paymentToken: 'tok_prefixed' });
    const response = await post(
      '/orderflow/codec/decode',
      { payloads: [encrypted] },
      { Authorization: `Bearer ${admin}` },
    );
    expect(response.status).toBe(200);
    expect(JSON.stringify(await response.json())).toContain(btoa('{"paymentToken":"tok_prefixed"}'));
  });

  test.each(['/encode', '/decode'])(
    'when %s gets no payloads (`{}`: proto3 JSON leaves an empty list out), then it answers none',
    async (path) => {
      // The Temporal CLI sends `{}` for a signal or query without arguments (retryPayment, status).
      const response = await post(path, {}, { Authorization: `Bearer ${admin}` });
      expect(response.status).toBe(200);
      await expect(response.json()).resolves.toEqual({ payloads: [] });
    },
  );

  test('when an admin encodes through the server, then the result is encrypted and decodes back (UI signals)', async () => {
    const plain = { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: btoa('"hi"') };
    const auth = { Authorization: `Bearer ${admin}` };
    const encoded = (await (await post('/encode', { payloads: [plain] }, auth)).json()) as { payloads: unknown[] };
    expect(Buffer.from(JSON.stringify(encoded)).toString()).toContain(
      Buffer.from(ENCRYPTED_ENCODING).toString('base64'),
    );
    const decoded = await post('/decode', encoded, auth);
    await expect(decoded.json()).resolves.toEqual({ payloads: [plain] });
  });

  test.each([
    ['no Authorization header', 401, 'unauthorized', undefined],
    [
      'a token signed with another secret',
      401,
      'invalid_token',
      () => signToken('x', 'another-secret-0123456789abcdef'),
    ],
    [
      'an expired admin token',
      401,
      'invalid_token',
      () => signToken('x', config.jwtSecret, { role: 'admin', expiresIn: -60 }),
    ],
    ['a customer token', 403, 'forbidden', () => customer],
  ])(
    'when /decode is called with %s, then it answers %i %s and decodes nothing',
    async (_what, status, code, token) => {
      const encrypted = await encryptedJson({ paymentToken: 'tok_unauthorised' });
      const headers: Record<string, string> = token === undefined ? {} : { Authorization: `Bearer ${token()}` };
      const response = await post('/decode', { payloads: [encrypted] }, headers);

      expect(response.status).toBe(status);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
      const text = await response.text();
      expect(JSON.parse(text)).toMatchObject({ error: code });
      expect(text).not.toContain(btoa('"tok_unauthorised'));
    },
  );

  test('when X-Namespace names another namespace, then the request is refused; without it, ours is assumed', async () => {
    const encrypted = await encryptedJson({ paymentToken: 'tok_namespace' });
    const auth = `Bearer ${admin}`;
    // What the Temporal CLI sends without an explicit --namespace.
    const missing = await fetch(`${url}/decode`, {
      method: 'POST',
      headers: { Authorization: auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ payloads: [encrypted] }),
    });
    expect(missing.status).toBe(200);
    expect(JSON.stringify(await missing.json())).toContain(btoa('{"paymentToken":"tok_namespace"}'));
    const other = await post('/decode', { payloads: [encrypted] }, { Authorization: auth, 'X-Namespace': 'other' });
    expect(other.status).toBe(403);
    await expect(other.json()).resolves.toMatchObject({ error: 'forbidden', field: 'X-Namespace' });
    // Two lines, even both naming our namespace: node would join them into "ns, ns"; refused as ambiguous.
    const twice = await new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const headers = {
        'Content-Type': 'application/json',
        Authorization: auth,
        'X-Namespace': [config.temporal.namespace, config.temporal.namespace],
      };
      const req = http.request(`${url}/decode`, { method: 'POST', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }),
        );
      });
      req.on('error', reject);
      req.end(JSON.stringify({ payloads: [encrypted] }));
    });
    expect(twice).toEqual({
      status: 400,
      body: expect.objectContaining({ error: 'validation_failed', field: 'X-Namespace' }) as unknown,
    });
  });

  test('when Authorization comes on two lines, then /decode and /session answer 401 even if both carry admin tokens', async () => {
    const body = JSON.stringify({ payloads: [await encryptedJson({ paymentToken: 'tok_twice' })] });
    // node:http sends an array value as one header line per value (fetch would join them into one line).
    const send = (path: string, contentType: string) =>
      new Promise<{ status: number; body: unknown }>((resolve, reject) => {
        const headers = {
          'Content-Type': contentType,
          'X-Namespace': config.temporal.namespace,
          Authorization: [`Bearer ${admin}`, `Bearer ${admin}`],
        };
        const req = http.request(`${url}${path}`, { method: 'POST', headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }),
          );
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(path === '/decode' ? body : '');
      });

    for (const [path, type] of [
      ['/decode', 'application/json'],
      ['/session', 'application/x-www-form-urlencoded'],
    ] as const) {
      const answer = await send(path, type);
      expect(answer).toMatchObject({
        status: 401,
        body: { error: 'unauthorized', message: 'Authorization header must be given once' },
      });
    }
  });

  test('when the body is not a payloads object or was encrypted under an unknown key, then it answers 400 or 422', async () => {
    const auth = { Authorization: `Bearer ${admin}` };
    const invalid = await post('/decode', { payloads: [{ data: 'not base64!' }] }, auth);
    expect(invalid.status).toBe(400);
    await expect(invalid.json()).resolves.toMatchObject({ error: 'validation_failed', field: 'payloads[0].data' });
    const [foreign] = await new EncryptionCodec(keys('foreign')).encode([defaultPayloadConverter.toPayload('x')]);
    const body = {
      payloads: [
        {
          metadata: Object.fromEntries(
            Object.entries(foreign!.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
          ),
          data: Buffer.from(foreign!.data!).toString('base64'),
        },
      ],
    };
    const unknown = await post('/decode', body, auth);
    expect(unknown.status).toBe(422);
    await expect(unknown.json()).resolves.toMatchObject({ error: 'undecodable_payload' });
  });

  test('when the Web UI sends a CORS preflight, then its origin, credentials and headers are allowed', async () => {
    const response = await fetch(`${url}/decode`, {
      method: 'OPTIONS',
      headers: {
        Origin: UI_ORIGIN,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization,content-type,x-namespace',
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(response.headers.get('access-control-allow-credentials')).toBe('true');
    expect(response.headers.get('access-control-allow-methods')).toContain('POST');
    const allowed = (response.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type', 'x-namespace']));
    expect(response.headers.get('vary')).toContain('Origin');
  });

  test('when another origin calls, then the preflight and the request are refused without CORS headers', async () => {
    const evil = 'http://evil.example';
    const preflight = await fetch(`${url}/decode`, {
      method: 'OPTIONS',
      headers: { Origin: evil, 'Access-Control-Request-Method': 'POST' },
    });
    expect(preflight.status).toBe(403);
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const encrypted = await encryptedJson({ paymentToken: 'tok_evil' });
    const request = await post(
      '/decode',
      { payloads: [encrypted] },
      { Origin: evil, Authorization: `Bearer ${admin}` },
    );
    expect(request.status).toBe(403);
    expect(request.headers.get('access-control-allow-origin')).toBeNull();
  });

  test('when an operator signs in at /session, then the Web UI decodes with the session cookie alone', async () => {
    const signIn = await fetch(`${url}/session`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: admin }).toString(),
    });
    expect(signIn.status).toBe(200);
    const cookie = signIn.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(new RegExp(`^${SESSION_COOKIE}=[^;]+; HttpOnly; SameSite=Strict; Path=/; Max-Age=\\d+`));
    const session = cookie.split(';')[0]!;

    const encrypted = await encryptedJson({ paymentToken: 'tok_cookie' });
    const decoded = await post('/decode', { payloads: [encrypted] }, { Origin: UI_ORIGIN, Cookie: session });
    expect(decoded.status).toBe(200);
    expect(decoded.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(decoded.headers.get('access-control-allow-credentials')).toBe('true');
    expect(JSON.stringify(await decoded.json())).toContain(btoa('{"paymentToken":"tok_cookie"}'));

    const refused = await fetch(`${url}/session`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: customer }).toString(),
    });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('set-cookie')).toBeNull();
  });

  test('when /health is asked, then it answers without a token; unknown routes and methods answer JSON errors', async () => {
    await expect((await fetch(`${url}/health`)).json()).resolves.toEqual({ status: 'ok' });
    const unknown = await fetch(`${url}/nope`);
    expect(unknown.status).toBe(404);
    await expect(unknown.json()).resolves.toEqual({
      error: 'not_found',
      message: 'no route /nope: use POST /encode, POST /decode or GET /health',
    });
    const wrongMethod = await fetch(`${url}/decode`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
  });
});

describe('an order with encryption on', () => {
  let config: Config;
  let db: Knex;
  let redis: Redis;
  let client: Client;
  let worker: Worker;
  let running: Promise<void>;
  let workerConnection: Awaited<ReturnType<typeof connectWorker>>;
  let server: http.Server;
  let codecUrl: string;

  /** Every line the worker side logged: our activities, the SDK (down to trace) and core, all at debug. */
  const logLines: string[] = [];

  beforeAll(async () => {
    const logger = createLogger('worker', 'debug', {}, (line) => logLines.push(line));
    Runtime.install({
      logger: temporalLogger(logger),
      telemetryOptions: { logging: { filter: { core: 'DEBUG', other: 'INFO' }, forward: {} } },
    });
    // Every other token is approved with PAYMENT_SUCCESS_RATE: 1 makes a unique token's order complete.
    config = testConfig({ PAYMENT_SUCCESS_RATE: '1' });
    db = testDb(config);
    redis = testRedis(config);
    const dataConverter = createDataConverter(config);
    const gateway = createSimulatedGateway({ db, ...gatewaySettingsFromConfig(config), logger });
    const activities = createActivities({ db, redis, redisKeyPrefix: config.redisKeyPrefix, gateway, logger });
    const [bundle, connection] = await Promise.all([
      bundleOrderWorkflows(createLogger('bundle', 'error')),
      Connection.connect(connectionOptions(config.temporal)),
    ]);
    client = new Client({ connection, namespace: config.temporal.namespace, dataConverter });
    workerConnection = await connectWorker(config.temporal);
    worker = await createOrderWorker({
      connection: workerConnection,
      config,
      activities,
      workflowBundle: bundle,
      dataConverter,
    });
    running = worker.run();
    server = createCodecServer({ config, logger: createLogger('codec-server', 'silent') });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    codecUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    await workerConnection?.close();
    await client?.connection.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await Promise.allSettled([db?.destroy(), redis?.quit()]);
  });

  test('when it completes, then `temporal workflow show` reveals neither the token nor the fingerprint, and the codec server gives the token back to an admin', async () => {
    const token = `tok_secret_${randomUUID()}`;
    const sku = uniqueSku('codec');
    await insertProducts(db, [{ sku, stock: 5, priceCents: 1250 }]);
    const input = orderInput(config, [{ sku, quantity: 2 }], token);
    const handle = await startOrder(client, config, input);

    // The client with the data converter reads results and queries as if nothing were encrypted.
    await expect(handle.result()).resolves.toEqual({ orderId: input.orderId, status: 'COMPLETED' });
    await expect(handle.query(statusQuery)).resolves.toMatchObject({ status: 'COMPLETED' });
    const payment = await db<{ card_fingerprint: string }>(TABLES.payments)
      .where('order_id', input.orderId)
      .first('card_fingerprint');
    const fingerprint = payment?.card_fingerprint ?? '';
    expect(fingerprint).toMatch(/^[0-9a-f]{32}$/);

    const args = ['workflow', 'show', '--workflow-id', workflowIdFor(input.orderId)];
    const [json, text] = await Promise.all([temporalCli(config, [...args, '-o', 'json']), temporalCli(config, args)]);
    const history = JSON.parse(json) as { events: Record<string, unknown>[] };
    expect(history.events.length).toBeGreaterThan(5);
    for (const secret of [token, fingerprint]) {
      expect(text).not.toContain(secret);
      expect(texts(history).filter((t) => t.includes(secret))).toEqual([]);
    }
    const encodingOf = (p: { metadata: Record<string, string> }) =>
      Buffer.from(p.metadata.encoding!, 'base64').toString();
    const sdkOwn = new Set(sdkMarkerPayloads(history));
    expect(sdkOwn.size).toBeGreaterThan(0); // the saga's patch marker, at least (the secrets check above covers them)
    const payloads = payloadsIn(history).filter((p) => !sdkOwn.has(p));
    expect(payloads.length).toBeGreaterThan(5);
    expect([...new Set(payloads.map(encodingOf))]).toEqual([ENCRYPTED_ENCODING]);
    // The SDK records the saga's patch id (`patched()`) in TemporalChangeVersion.
    expect(searchAttributeNames(history)).toEqual(
      new Set([...Object.values(SEARCH_ATTRIBUTES).map((attribute) => attribute.name), 'TemporalChangeVersion']),
    );

    // An operator with an admin token reads the workflow input back through the codec server.
    const started = history.events[0]?.workflowExecutionStartedEventAttributes as {
      input: { payloads: unknown[] };
    };
    const admin = signToken(`ops-${randomUUID()}`, config.jwtSecret, { role: 'admin' });
    const response = await fetch(`${codecUrl}/decode`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${admin}`,
        'Content-Type': 'application/json',
        'X-Namespace': config.temporal.namespace,
      },
      body: JSON.stringify({ payloads: started.input.payloads.slice(0, 1) }),
    });
    expect(response.status).toBe(200);
    const decoded = (await response.json()) as { payloads: { data: string }[] };
    expect(JSON.parse(Buffer.from(decoded.payloads[0]!.data, 'base64').toString())).toMatchObject({
      orderId: input.orderId,
      paymentToken: token,
    });

    // The CLI does the same with --codec-endpoint and --codec-auth.
    const viaCodec = await temporalCli(config, [
      ...args,
      '-o',
      'json',
      '--codec-endpoint',
      codecUrl,
      '--codec-auth',
      `Bearer ${admin}`,
    ]);
    expect(texts(JSON.parse(viaCodec)).some((t) => t.includes(token))).toBe(true);

    // Nor did the worker write either to its logs, its activity tasks (with their payloads) traced at debug level.
    const ours = logLines.filter((line) => line.includes(input.orderId) || line.includes(handle.workflowId));
    expect(ours.some((line) => line.includes('Got activity task') && line.includes('[binary'))).toBe(true);
    for (const secret of [token, fingerprint]) {
      expect(logLines.filter((line) => line.includes(secret))).toEqual([]);
    }
  });

  test('when an order is started under a key the worker does not hold, then its workflow task fails and is retried, and nothing is recorded', async () => {
    // A misconfigured client (its key missing from the worker's PAYLOAD_CODEC_KEYS): the tolerant decoding that lets a
    // bad signal through must not let the saga run on an input it cannot read (workflows/interceptors.ts).
    const foreign = new Client({
      connection: client.connection,
      namespace: config.temporal.namespace,
      dataConverter: { payloadCodecs: [new EncryptionCodec(keys('foreign'))] },
    });
    const sku = uniqueSku('foreign-key');
    await insertProducts(db, [{ sku, stock: 5, priceCents: 100 }]);
    const input = orderInput(config, [{ sku, quantity: 1 }], 'tok_ok');
    const handle = await foreign.workflow.start(WORKFLOW_TYPE, {
      taskQueue: config.temporal.taskQueue,
      workflowId: workflowIdFor(input.orderId),
      args: [input],
    });
    try {
      const failure = await waitFor('a failed workflow task', async () => {
        const events = (await handle.fetchHistory()).events ?? [];
        return events.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes?.failure;
      });
      expect(failure?.message).toMatch(
        /workflow argument 1 could not be decoded \(payload encrypted with unknown key id "foreign"/,
      );
      expect((await handle.describe()).status.name).toBe('RUNNING');
      expect(await db(TABLES.orders).where({ id: input.orderId }).first()).toBeUndefined();
    } finally {
      await handle.terminate('test over');
    }
  });
});
