/**
 * One Socket.IO client per customer, as the design asks a real client to behave: it keeps events by seq (dropping
 * duplicates), and after a reconnection or a gap subscribes again from the last seq it holds without a gap.
 */
import { io, type Socket } from 'socket.io-client';
import { ORDER_STATUS_EVENT, SUBSCRIBE_EVENT } from '../lib/events';
import { sleep } from '../lib/sleep';
import type { ClientOrderEvent, SubscribeAck } from '../lib/realtime-protocol';
import type { OrderStatus } from '../workflows/definitions';
import type { Customer } from './load';

/** What one customer's client saw: per order seq -> status; `received` counts duplicates too. */
export interface SocketView {
  customerId: string;
  orders: Map<string, Map<number, OrderStatus>>;
  received: number;
  duplicates: number;
  connects: number;
  disconnects: number;
  /** Subscribe acks that were refused or never came during the catch-up. */
  catchUpFailures: string[];
}

/** The clients of a run. */
export type SocketFleet = ReturnType<typeof startSockets>;

const ACK_TIMEOUT_MS = 10_000;
/** Attempts of one `subscribe` refused as `unavailable` (the relay could not read PostgreSQL) or left unanswered. */
const SUBSCRIBE_ATTEMPTS = 20;

/** The seq the client has everything up to, sent as `lastSeq`: a replay then also fills a gap in the middle. */
function contiguousSeq(seqs: ReadonlyMap<number, unknown> | undefined): number {
  let seq = 0;
  while (seqs?.has(seq + 1) === true) seq += 1;
  return seq;
}

/** Connects one client per customer. */
export function startSockets(relayUrl: string, customers: readonly Customer[]) {
  const views = new Map<string, SocketView>();
  const sockets = new Map<string, Socket>();
  let closing = false;

  const subscribe = async (socket: Socket, view: SocketView, orderId: string): Promise<SubscribeAck | undefined> => {
    const lastSeq = contiguousSeq(view.orders.get(orderId));
    try {
      return (await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(SUBSCRIBE_EVENT, { orderId, lastSeq })) as SubscribeAck;
    } catch {
      return undefined; // no ack in time (the relay went away): the next connect subscribes again
    }
  };

  /** Follows one order: subscribes, retrying while the relay answers `unavailable`; one attempt chain per order. */
  const following = new Map<string, { again: boolean }>();
  const follow = (socket: Socket, view: SocketView, orderId: string): void => {
    const running = following.get(orderId);
    if (running !== undefined) {
      running.again = true;
      return;
    }
    const state = { again: false };
    following.set(orderId, state);
    void (async () => {
      try {
        for (let attempt = 0; attempt < SUBSCRIBE_ATTEMPTS && socket.connected && !closing; attempt += 1) {
          const ack = await subscribe(socket, view, orderId);
          if (ack?.ok === true) {
            if (!state.again) return;
            state.again = false;
            continue;
          }
          if (ack !== undefined && ack.error !== 'service_unavailable') return; // refused for good: the catch-up reports it
          await sleep(500);
        }
      } finally {
        following.delete(orderId);
      }
    })();
  };

  for (const customer of customers) {
    const view: SocketView = {
      customerId: customer.id,
      orders: new Map(),
      received: 0,
      duplicates: 0,
      connects: 0,
      disconnects: 0,
      catchUpFailures: [],
    };
    views.set(customer.id, view);
    const socket = io(relayUrl, {
      auth: { token: customer.token },
      transports: ['websocket'],
      reconnectionDelay: 100,
      reconnectionDelayMax: 1000,
      forceNew: true,
    });
    sockets.set(customer.id, socket);
    socket.on(ORDER_STATUS_EVENT, (event: ClientOrderEvent) => {
      view.received += 1;
      const seqs = view.orders.get(event.orderId) ?? new Map<number, OrderStatus>();
      view.orders.set(event.orderId, seqs);
      if (seqs.has(event.seq)) {
        view.duplicates += 1;
        return;
      }
      seqs.set(event.seq, event.status);
      // A gap before this event: something was missed (e.g. while reconnecting); a replay from lastSeq fills it.
      if (event.seq > contiguousSeq(seqs) + 1) follow(socket, view, event.orderId);
    });
    socket.on('connect', () => {
      view.connects += 1;
      for (const orderId of view.orders.keys()) follow(socket, view, orderId);
    });
    socket.on('disconnect', (reason) => {
      view.disconnects += 1;
      // A relay shutting down disconnects its clients; socket.io-client does not retry that one by itself.
      if (reason === 'io server disconnect' && !closing) setTimeout(() => socket.connect(), 200);
    });
    socket.on('connect_error', () => {
      // A handshake refused by the relay (e.g. while its Redis is down) is not retried automatically either.
      if (!socket.active && !closing) setTimeout(() => socket.connect(), 500);
    });
  }

  return {
    views,
    /** Starts following `orderId` for its customer. */
    track(customerId: string, orderId: string): void {
      const view = views.get(customerId);
      const socket = sockets.get(customerId);
      if (view === undefined || socket === undefined) return;
      if (!view.orders.has(orderId)) view.orders.set(orderId, new Map());
      // Live events may have come first through the customer's room; subscribing from lastSeq fills what was missed.
      if (socket.connected) follow(socket, view, orderId);
    },
    connected: (): number => [...sockets.values()].filter((socket) => socket.connected).length,
    /** Subscribes every order once more (after quiescence) and waits for the acks, bounded. */
    async catchUp(timeoutMs: number): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      await Promise.all(
        [...views.values()].map(async (view) => {
          const socket = sockets.get(view.customerId);
          if (socket === undefined) return;
          for (const orderId of view.orders.keys()) {
            let ack: SubscribeAck | undefined;
            while (Date.now() < deadline) {
              if (!socket.connected) {
                await sleep(200);
                continue;
              }
              ack = await subscribe(socket, view, orderId);
              if (ack?.ok === true) break;
              await sleep(500);
            }
            if (ack?.ok !== true) view.catchUpFailures.push(`${orderId}: ${ack === undefined ? 'no ack' : ack.error}`);
          }
        }),
      );
    },
    close(): void {
      closing = true;
      for (const socket of sockets.values()) socket.close();
    },
  };
}
