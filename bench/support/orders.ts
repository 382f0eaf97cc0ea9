/**
 * The bench's customer side: places orders through the API (POST /orders) and watches them complete on an admin
 * Socket.IO client of the relay, timing each from its POST sent to the 201 and to the COMPLETED event received.
 */
import { performance } from 'node:perf_hooks';
import { io, type Socket } from 'socket.io-client';
import { signToken } from '../../lib/auth';
import { ORDER_STATUS_EVENT } from '../../lib/events';
import type { ClientOrderEvent } from '../../lib/realtime-protocol';
import { isTerminal, workflowIdFor } from '../../workflows/definitions';
import { callApi } from './http';
import type { OperationTiming } from './load';

/**
 * Options of `createOrderClient`: `customers` are placed for round robin (each its own rate-limit budget);
 * `timeoutMs` (default 60 s) is how long an order may take from POST to a terminal event before it is an error.
 */
export interface OrderClientOptions {
  apiUrl: string;
  relayUrl: string;
  jwtSecret: string;
  customers: string[];
  timeoutMs?: number;
}

/** Places orders of one unit of `sku` (`tok_ok`): resolves once COMPLETED was seen, rejects on anything else. */
export interface OrderClient {
  place(sku: string, customerIndex: number): Promise<OperationTiming>;
  close(): void;
}

/** A terminal status and when it was received (`performance.now()`). */
interface Seen {
  status: string;
  at: number;
}

/** A Socket.IO client of the relay at `url`, authenticated with `token`, connecting. */
export const relayClient = (url: string, token: string): Socket =>
  io(url, { auth: { token }, transports: ['websocket'], forceNew: true });

/** Resolves once `socket` is connected; rejects when its handshake is refused. */
export const connected = (socket: Socket): Promise<void> =>
  new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });

/** Connects the admin socket; resolves once it is connected. */
export async function createOrderClient(options: OrderClientOptions): Promise<OrderClient> {
  const tokens = options.customers.map((customer) => signToken(customer, options.jwtSecret));
  const timeoutMs = options.timeoutMs ?? 60_000;

  // Terminal events by order: received before the POST answered (kept until claimed), or awaited.
  const early = new Map<string, Seen>();
  const waiters = new Map<string, (seen: Seen) => void>();
  const socket = relayClient(options.relayUrl, signToken('bench-admin', options.jwtSecret, { role: 'admin' }));
  socket.on(ORDER_STATUS_EVENT, (event: ClientOrderEvent) => {
    if (!isTerminal(event.status)) return;
    const seen = { status: event.status, at: performance.now() };
    const waiter = waiters.get(event.orderId);
    waiters.delete(event.orderId);
    if (waiter === undefined) early.set(event.orderId, seen);
    else waiter(seen);
  });
  await connected(socket);

  const terminal = (orderId: string): Promise<Seen> => {
    const seen = early.get(orderId);
    early.delete(orderId);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(orderId);
        reject(new Error(`order ${orderId}: no terminal event within ${timeoutMs}ms`));
      }, timeoutMs);
      waiters.set(orderId, (event) => {
        clearTimeout(timer);
        resolve(event);
      });
    });
  };

  return {
    async place(sku, customerIndex) {
      const token = tokens[customerIndex % tokens.length] ?? '';
      const body = { items: [{ sku, quantity: 1 }], payment: { token: 'tok_ok' } };
      const t0 = performance.now();
      const answer = await callApi(options.apiUrl, 'POST', '/orders', { token, body, timeoutMs });
      const accepted = performance.now();
      const orderId = answer.body.orderId;
      if (answer.status !== 201 || typeof orderId !== 'string') {
        throw new Error(`POST /orders: ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`);
      }
      const event = await terminal(orderId);
      if (event.status !== 'COMPLETED') throw new Error(`order ${orderId} ended ${event.status}`);
      return { acceptedMs: accepted - t0, completedMs: event.at - t0, workflowId: workflowIdFor(orderId) };
    },
    close: () => socket.close(),
  };
}
