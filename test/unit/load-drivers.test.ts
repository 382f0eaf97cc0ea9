/**
 * The load drivers the bench and the chaos run share (bench/support/load.ts, bench/support/http.ts): `paced` drops
 * or queues arrivals that find every slot busy and reports a failed operation, and `callApi` turns every answer of a
 * real HTTP server, and the lack of one, into a status, a body and its error code.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { callApi } from '../../bench/support/http';
import { paced } from '../../bench/support/load';

/** Arrivals all due at once: the schedule never waits, so only the slots decide. */
const AT_ONCE = 1e9;

describe('paced', () => {
  const signal = new AbortController().signal;

  test('when arrivals find every slot busy and whenFull is drop, then they are dropped and counted', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const started: number[] = [];
    const done = paced({ count: 5, rate: AT_ONCE, maxInFlight: 2, whenFull: 'drop', signal }, async (i) => {
      started.push(i);
      await gate;
    });
    release();

    await expect(done).resolves.toBe(3);
    expect(started).toEqual([0, 1]);
  });

  test('when arrivals find every slot busy and whenFull is wait, then each starts once a slot frees up', async () => {
    let running = 0;
    let most = 0;
    const finished: number[] = [];
    const dropped = await paced({ count: 6, rate: AT_ONCE, maxInFlight: 2, whenFull: 'wait', signal }, async (i) => {
      running += 1;
      most = Math.max(most, running);
      await Promise.resolve();
      running -= 1;
      finished.push(i);
    });

    expect(dropped).toBe(0);
    expect(most).toBe(2);
    expect([...finished].sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  test('when an operation fails, then paced rejects with its error once the others settled', async () => {
    const finished: number[] = [];
    const done = paced({ count: 3, rate: AT_ONCE, maxInFlight: 3, whenFull: 'drop', signal }, async (i) => {
      await Promise.resolve();
      if (i === 1) throw new Error('operation 1 failed');
      finished.push(i);
    });

    await expect(done).rejects.toThrow('operation 1 failed');
    expect(finished).toEqual([0, 2]);
  });

  test('when the signal is aborted, then no arrival starts', async () => {
    const controller = new AbortController();
    controller.abort();
    const started: number[] = [];
    const dropped = await paced(
      { count: 3, rate: AT_ONCE, maxInFlight: 3, whenFull: 'drop', signal: controller.signal },
      async (i) => {
        started.push(i);
        await Promise.resolve();
      },
    );

    expect(dropped).toBe(0);
    expect(started).toEqual([]);
  });
});

describe('callApi', () => {
  let server: http.Server;
  let baseUrl: string;
  const seen: { method?: string; url?: string; authorization?: string; body: string }[] = [];

  beforeAll(async () => {
    server = http.createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        seen.push({ method: request.method, url: request.url, authorization: request.headers.authorization, body });
        if (request.url === '/busy') {
          response.writeHead(503, { 'content-type': 'application/json', 'retry-after': '5' });
          response.end(JSON.stringify({ error: 'service_unavailable' }));
        } else if (request.url === '/text') {
          response.writeHead(200, { 'content-type': 'text/plain' });
          response.end('plain words');
        } else {
          response.writeHead(201, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ orderId: 'o-1' }));
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.close();
    await once(server, 'close');
  });

  test('when the API answers JSON, then the status and body come back with the token and body sent', async () => {
    const answer = await callApi(baseUrl, 'POST', '/orders', { token: 't-1', body: { items: [] } });

    expect(answer).toEqual({ status: 201, body: { orderId: 'o-1' }, error: undefined, retryAfter: undefined });
    expect(seen.at(-1)).toEqual({ method: 'POST', url: '/orders', authorization: 'Bearer t-1', body: '{"items":[]}' });
  });

  test('when the API answers 503 with Retry-After, then its error code and Retry-After come back', async () => {
    const answer = await callApi(baseUrl, 'GET', '/busy', { token: 't-1' });

    expect(answer).toMatchObject({ status: 503, error: 'service_unavailable', retryAfter: '5' });
  });

  test('when the body is not JSON, then the error is not_json with the start of the text', async () => {
    const answer = await callApi(baseUrl, 'GET', '/text', { token: 't-1' });

    expect(answer).toMatchObject({ status: 200, error: 'not_json', body: { message: 'plain words' } });
  });

  test('when nothing answers, then the status is 0 and the error no_answer', async () => {
    const closed = http.createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const { port } = closed.address() as AddressInfo;
    closed.close();
    await once(closed, 'close');

    const answer = await callApi(`http://127.0.0.1:${port}`, 'GET', '/orders', { token: 't-1' });

    expect(answer).toMatchObject({ status: 0, error: 'no_answer', retryAfter: undefined });
  });
});
