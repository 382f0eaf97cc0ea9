/**
 * A lost PostgreSQL connection (a restart, a terminated session, a failover) is an outage the client may retry, so
 * the API answers 503 with Retry-After, never a 500 (found by the chaos run: `pg_terminate_backend` during POST
 * /orders gave a 500).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import { createApp } from '../../api/app';
import { signToken } from '../../lib/auth';
import { isDatabaseUnavailable } from '../../lib/http/errors';
import { loadConfig } from '../../lib/config';
import { createDb } from '../../lib/db';
import { createLogger } from '../../lib/logger';
import { freePort } from '../../stack';

describe('isDatabaseUnavailable', () => {
  it.each([
    [
      'a session terminated by an administrator (57P01)',
      Object.assign(new Error('terminating connection'), { code: '57P01' }),
    ],
    ['a connection exception (08006)', Object.assign(new Error('connection failure'), { code: '08006' })],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    ['a reset connection', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['a connection cut mid-query', new Error('select 1 - Connection terminated unexpectedly')],
    [
      'an exhausted pool',
      Object.assign(new Error('Knex: Timeout acquiring a connection'), { name: 'KnexTimeoutError' }),
    ],
  ])('when the error is %s, then it is an outage', (_, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([
    ['a unique violation (23505)', Object.assign(new Error('duplicate key'), { code: '23505' })],
    ['a plain bug', new TypeError('cannot read properties of undefined')],
    ['not an error', 'boom'],
  ])('when the error is %s, then it is not', (_, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });
});

describe('the API without PostgreSQL', () => {
  let server: http.Server;
  let baseUrl: string;
  let db: Knex;
  const config = loadConfig({});

  beforeAll(async () => {
    // Nothing listens on the port: every query fails to connect, as while PostgreSQL restarts.
    db = createDb({ url: `postgres://postgres@127.0.0.1:${await freePort()}/nowhere`, poolMax: 1 });
    const app = createApp({
      config,
      db,
      // The rate limit fails open without Redis; reading an order needs neither Redis nor Temporal.
      redis: {} as Redis,
      temporal: {} as Client,
      logger: createLogger('test', 'silent'),
      options: { processMetrics: false, retryAfterSeconds: 7 },
    });
    const handle = app.callback();
    server = http.createServer((req, res) => void handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await db.destroy();
  });

  it('when an order is read, then the answer is 503 service_unavailable with Retry-After, not a 500', async () => {
    const token = signToken('alice', config.jwtSecret);
    const response = await fetch(`${baseUrl}/orders/2f6d8f4e-8f59-4f36-9d0f-1f0e2a0c9b11`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('7');
    expect(await response.json()).toEqual({
      error: 'service_unavailable',
      message: 'the order service is unavailable; retry later',
    });
  });
});

describe('createDb without PostgreSQL', () => {
  it('when a query cannot connect, then the caller gets the error and knex prints no stack of its own', async () => {
    const printed = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const lines: string[] = [];
    const logger = createLogger('test', 'debug', {}, (line) => lines.push(line));
    const db = createDb({ url: `postgres://postgres@127.0.0.1:${await freePort()}/nowhere`, poolMax: 1, logger });
    try {
      await expect(db.raw('SELECT 1')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      expect(printed.mock.calls.flat().join('\n')).not.toContain('Acquire connection error');
      expect(lines.join('')).not.toContain('Acquire connection error');
    } finally {
      printed.mockRestore();
      await db.destroy();
    }
  });
});
