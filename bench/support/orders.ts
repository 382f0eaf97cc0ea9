/**
 * The bench's customer side: places orders through the HTTP API (POST /orders, a keep-alive connection pool) and
 * watches them complete through the realtime relay (one admin Socket.IO client, event `order.status`), timing each
 * order from the moment its POST is sent to the 201 and to the COMPLETED event received.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { io as connect, type Socket } from 'socket.io-client';
import { signToken } from '../../lib/auth';
import { ORDER_STATUS_EVENT } from '../../lib/events';
import type { ClientOrderEvent } from '../../realtime/protocol';
import { isTerminal, workflowIdFor } from '../../workflows/definitions';
import type { OperationTiming } from './load';

/** Options of `createOrderClient`. */
export interface OrderClientOptions {
  apiUrl: string;
  relayUrl: string;
  jwtSecret: string;
  /** Customer ids orders are placed for, round robin (each its own rate-limit budget). */
  customers: string[];
  /** Payment token of every order. @default 'tok_ok' */
  paymentToken?: string;
  /** How long one order may take from POST to a terminal event before it counts as an error. @default 60000 */
  timeoutMs?: number;
}

/** Places orders and times them. */
export interface OrderClient {
  /** Places one order of one unit of `sku`; resolves once COMPLETED was seen, rejects on anything else. */
  place(sku: string, customerIndex: number): Promise<OperationTiming>;
  close(): void;
}

interface Waiter {
  resolve: (event: { status: string; at: number }) => void;
}

/** Connects the admin socket and prepares the HTTP pool. */
export async function createOrderClient(options: OrderClientOptions): Promise<OrderClient> {
  const api = new URL(options.apiUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
  const tokens = options.customers.map((customer) => `Bearer ${signToken(customer, options.jwtSecret)}`);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const paymentToken = options.paymentToken ?? 'tok_ok';

  // Terminal events by order: received before the POST answered (kept until claimed), or awaited.
  const early = new Map<string, { status: string; at: number }>();
  const waiters = new Map<string, Waiter>();
  const socket: Socket = connect(options.relayUrl, {
    auth: { token: signToken('bench-admin', options.jwtSecret, { role: 'admin' }) },
    transports: ['websocket'],
    forceNew: true,
  });
  socket.on(ORDER_STATUS_EVENT, (event: ClientOrderEvent) => {
    if (!isTerminal(event.status)) return;
    const seen = { status: event.status, at: performance.now() };
    const waiter = waiters.get(event.orderId);
    if (waiter === undefined) early.set(event.orderId, seen);
    else {
      waiters.delete(event.orderId);
      waiter.resolve(seen);
    }
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });

  const post = (body: string, authorization: string): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const request = http.request(
        {
          agent,
          host: api.hostname,
          port: api.port,
          method: 'POST',
          path: '/orders',
          headers: {
            authorization,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
          timeout: timeoutMs,
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error(`POST /orders: no answer within ${timeoutMs}ms`)));
      request.on('error', reject);
      request.end(body);
    });

  const terminal = (orderId: string): Promise<{ status: string; at: number }> => {
    const seen = early.get(orderId);
    if (seen !== undefined) {
      early.delete(orderId);
      return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(orderId);
        reject(new Error(`order ${orderId}: no terminal event within ${timeoutMs}ms`));
      }, timeoutMs);
      waiters.set(orderId, {
        resolve: (event) => {
          clearTimeout(timer);
          resolve(event);
        },
      });
    });
  };

  return {
    async place(sku, customerIndex) {
      const authorization = tokens[customerIndex % tokens.length] ?? '';
      const body = JSON.stringify({ items: [{ sku, quantity: 1 }], payment: { token: paymentToken } });
      const t0 = performance.now();
      const answer = await post(body, authorization);
      const accepted = performance.now();
      if (answer.status !== 201) throw new Error(`POST /orders: ${answer.status} ${answer.text.slice(0, 200)}`);
      const { orderId } = JSON.parse(answer.text) as { orderId: string };
      const event = await terminal(orderId);
      if (event.status !== 'COMPLETED') throw new Error(`order ${orderId} ended ${event.status}`);
      return { acceptedMs: accepted - t0, completedMs: event.at - t0, workflowId: workflowIdFor(orderId) };
    },
    close() {
      socket.close();
      agent.destroy();
    },
  };
}
