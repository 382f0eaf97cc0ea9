/**
 * One Socket.IO client per customer on the relay, behaving as the design asks a real client to: it keeps what it
 * received per order by seq (dropping duplicates), follows every order it placed with `subscribe`, and after every
 * reconnection (relay or Redis restarts) subscribes again from the highest seq it has. After quiescence `catchUp()`
 * subscribes once more per order, so each client should then hold every status its orders went through.
 */
import { io, type Socket } from 'socket.io-client';
import { ORDER_STATUS_EVENT, SUBSCRIBE_EVENT } from '../lib/events';
import type { ClientOrderEvent, SubscribeAck } from '../realtime/protocol';
import type { OrderStatus } from '../workflows/definitions';
import type { Customer } from './load';

/** What one customer's client saw. */
export interface SocketView {
  customerId: string;
  /** Per order: seq -> status, duplicates dropped. */
  orders: Map<string, Map<number, OrderStatus>>;
  /** Events received in all (duplicates included). */
  received: number;
  duplicates: number;
  connects: number;
  disconnects: number;
  /** Subscribe acks that were refused or never came during the catch-up. */
  catchUpFailures: string[];
}

/** The clients of a run. */
export interface SocketFleet {
  views: Map<string, SocketView>;
  /** Starts following `orderId` for its customer (subscribes at once when connected). */
  track(customerId: string, orderId: string): void;
  /** Clients currently connected. */
  connected(): number;
  /** Subscribes every order again from its highest seq and waits for the acks (bounded). */
  catchUp(timeoutMs: number): Promise<void>;
  close(): void;
}

const ACK_TIMEOUT_MS = 10_000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function highest(seqs: Map<number, OrderStatus> | undefined): number {
  let max = 0;
  for (const seq of seqs?.keys() ?? []) if (seq > max) max = seq;
  return max;
}

/** Connects one client per customer. */
export function startSockets(relayUrl: string, customers: readonly Customer[]): SocketFleet {
  const views = new Map<string, SocketView>();
  const sockets = new Map<string, Socket>();
  let closing = false;

  const subscribe = async (socket: Socket, view: SocketView, orderId: string): Promise<SubscribeAck | undefined> => {
    const lastSeq = highest(view.orders.get(orderId));
    try {
      return (await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(SUBSCRIBE_EVENT, { orderId, lastSeq })) as SubscribeAck;
    } catch {
      return undefined; // no ack in time (the relay went away): the next connect subscribes again
    }
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
      if (seqs.has(event.seq)) view.duplicates += 1;
      else seqs.set(event.seq, event.status);
    });
    socket.on('connect', () => {
      view.connects += 1;
      for (const orderId of view.orders.keys()) void subscribe(socket, view, orderId);
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
    track(customerId, orderId) {
      const view = views.get(customerId);
      const socket = sockets.get(customerId);
      if (view === undefined || socket === undefined || view.orders.has(orderId)) return;
      view.orders.set(orderId, new Map());
      if (socket.connected) void subscribe(socket, view, orderId);
    },
    connected: () => [...sockets.values()].filter((socket) => socket.connected).length,
    async catchUp(timeoutMs) {
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
            if (ack?.ok !== true) {
              view.catchUpFailures.push(`${orderId}: ${ack === undefined ? 'no ack' : ack.error}`);
            }
          }
        }),
      );
    },
    close() {
      closing = true;
      for (const socket of sockets.values()) socket.close();
    },
  };
}
