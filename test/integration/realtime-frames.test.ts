/**
 * Property tests of the relay's Socket.IO boundary on real Redis and PostgreSQL: arbitrary `subscribe` frames,
 * arbitrary other events, and handshakes with arbitrary claims. Invariants: every frame is answered by the ack the
 * protocol documents (a refused payload names its field), the relay never drops a socket over a frame and keeps
 * serving, a handshake is accepted exactly when its claims are, and no frame changes a row.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { io as connect } from 'socket.io-client';
import { SUBSCRIBE_EVENT } from '../../lib/events';
import { REALTIME_ERRORS, type SubscribeAck } from '../../lib/realtime-protocol';
import { snapshot } from '../support/api-helpers';
import { arbitraryClaims, claimsAcceptable, hostileText, signHs256 } from '../support/hostile';
import { until } from '../support/wait';
import { createOrder, useRelays, type TestClient } from './realtime.support';

const h = useRelays(1);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const runs = (fallback: number): { numRuns: number; seed: number } => ({
  numRuns: Number(process.env.FUZZ_RUNS ?? fallback),
  seed: Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000),
});

/** The oracle of a `subscribe` payload, from docs/realtime.md: `{ orderId: uuid, lastSeq?: integer 0..2^31-1 }`. */
function validSubscribe(payload: unknown): payload is { orderId: string; lastSeq?: number } {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return false;
  const { orderId, lastSeq, ...rest } = payload as Record<string, unknown>;
  if (Object.keys(rest).length > 0 || !('orderId' in payload)) return false;
  if (typeof orderId !== 'string' || !UUID.test(orderId)) return false;
  return (
    lastSeq === undefined || (Number.isInteger(lastSeq) && (lastSeq as number) >= 0 && (lastSeq as number) < 2 ** 31)
  );
}

describe('subscribe frames', () => {
  it('when arbitrary subscribe payloads are sent, then each gets the documented ack, refusals name a field, and no row changes', async () => {
    const owner = `frames-${randomUUID()}`;
    const orderId = await createOrder(h.db, owner);
    const client: TestClient = await h.client(h.relay(), owner);
    const stranger: TestClient = await h.client(h.relay(), `stranger-${randomUUID()}`);
    const orderIdArb = fc.oneof(
      fc.constant(orderId),
      fc.uuid(),
      hostileText,
      fc.constantFrom(`${orderId}\u0000`, `${orderId.slice(0, 35)}\ud800`, orderId.toUpperCase()),
      fc.integer(),
    );
    const lastSeq = fc.oneof(fc.integer({ min: -5, max: 2 ** 31 + 5 }), fc.double(), hostileText, fc.constant(null));
    const payload = fc.oneof(
      { weight: 5, arbitrary: fc.record({ orderId: orderIdArb, lastSeq }, { requiredKeys: [] }) },
      {
        weight: 2,
        arbitrary: fc
          .tuple(
            fc.record({ orderId: orderIdArb }),
            fc.dictionary(hostileText, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
          )
          .map(([base, extra]) => ({ ...extra, ...base })),
      },
      { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 16 }).map((bytes) => Buffer.from(bytes)) },
    );
    const baseline = await snapshot(h.db);
    await fc.assert(
      fc.asyncProperty(payload, fc.boolean(), async (frame, asOwner) => {
        const sender = asOwner ? client : stranger;
        const sent = JSON.parse(JSON.stringify(frame) ?? 'null') as unknown;
        const ack: SubscribeAck = await sender.subscribeRaw(frame);
        if (Buffer.isBuffer(frame) || !validSubscribe(sent)) {
          expect(ack).toEqual({
            ok: false,
            error: REALTIME_ERRORS.validationFailed,
            field: expect.any(String),
            message: expect.any(String),
          });
          // "is required" only for a field that was left out, never for one sent with a wrong value.
          const given = typeof sent === 'object' && sent !== null && 'field' in ack && ack.field in sent;
          if (ack.ok === false && (given || ('field' in ack && ack.field === 'payload'))) {
            expect(ack.message).not.toBe('is required');
          }
        } else if (asOwner && sent.orderId.toLowerCase() === orderId) {
          expect(ack).toEqual({ ok: true });
        } else {
          expect(ack).toEqual({ ok: false, error: REALTIME_ERRORS.notFound });
        }
        expect(await snapshot(h.db)).toEqual(baseline);
      }),
      runs(300),
    );
    expect(client.socket.connected && stranger.socket.connected).toBe(true);
  });

  it.each([
    ['a string', '1', 'lastSeq', 'expected number, received string'],
    ['null', null, 'lastSeq', 'expected number, received null'],
  ])(
    'when lastSeq is %s, then the refusal says what it got, not that it is missing',
    async (_what, lastSeq, field, says) => {
      const owner = `frames-${randomUUID()}`;
      const orderId = await createOrder(h.db, owner);
      const client = await h.client(h.relay(), owner);
      const ack = await client.subscribeRaw({ orderId, lastSeq });
      expect(ack).toEqual({
        ok: false,
        error: REALTIME_ERRORS.validationFailed,
        field,
        message: expect.stringContaining(says) as unknown,
      });
    },
  );

  it('when an order is subscribed by its id in upper case, then the socket joins the order as the database names it', async () => {
    const owner = `frames-${randomUUID()}`;
    const orderId = await createOrder(h.db, owner);
    const relay = h.relay();
    const client = await h.client(relay, owner);
    expect(await client.subscribeRaw({ orderId: orderId.toUpperCase() })).toEqual({ ok: true });
    // The socket joins its order's room right after the ack (once the replay meets the stream).
    const rooms = relay.relay.io.sockets.adapter.rooms;
    await until(
      'the socket to join the order room',
      () => rooms.get(`order:${orderId}`)?.has(client.socket.id ?? '') === true,
    );
    expect(rooms.has(`order:${orderId.toUpperCase()}`)).toBe(false);
  });

  it('when arbitrary other events are sent, then the socket stays connected, nothing comes back, and subscribe still works', async () => {
    const owner = `events-${randomUUID()}`;
    const orderId = await createOrder(h.db, owner);
    const client = await h.client(h.relay(), owner);
    const reserved = new Set([
      'connect',
      'connect_error',
      'disconnect',
      'disconnecting',
      'newListener',
      'removeListener',
    ]);
    const eventName = fc.oneof(hostileText, fc.constantFrom('order.status', 'unsubscribe', '__proto__'));
    await fc.assert(
      fc.asyncProperty(eventName, fc.jsonValue({ maxDepth: 2 }), async (name, body) => {
        fc.pre(!reserved.has(name) && name !== SUBSCRIBE_EVENT);
        client.socket.emit(name, body);
        // The relay handles a socket's frames in order, so this ack comes after the event above was processed.
        expect(await client.subscribe(orderId)).toEqual({ ok: true });
      }),
      runs(150),
    );
    expect(client.socket.connected).toBe(true);
    expect(client.of(orderId)).toEqual([]);
  });
});

describe('handshakes', () => {
  it('when handshakes carry tokens with arbitrary claims, then exactly the acceptable ones connect', async () => {
    const attempt = async (token: unknown): Promise<boolean> => {
      const socket = connect(h.relay().url, {
        auth: { token },
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
      });
      try {
        return await new Promise<boolean>((resolve) => {
          socket.once('connect', () => resolve(true));
          socket.once('connect_error', (error: Error) => {
            expect(error.message).toBe(REALTIME_ERRORS.unauthorized);
            resolve(false);
          });
        });
      } finally {
        socket.close();
      }
    };
    const baseline = await snapshot(h.db);
    await fc.assert(
      fc.asyncProperty(arbitraryClaims('frames-known'), async (claims) => {
        expect(await attempt(signHs256(claims, h.config.jwtSecret))).toBe(claimsAcceptable(claims));
      }),
      runs(120),
    );
    expect(await attempt({ not: 'a string' })).toBe(false);
    expect(await snapshot(h.db)).toEqual(baseline);
  });
});
