/**
 * The lean saga's steps (activities/saga-steps.ts) called directly on real PostgreSQL and Redis: idempotency by
 * event key, seqs allocated above everything recorded, reconciliation with durable state (what a Reset run meets),
 * the cancel mark, and compensation that never undoes a completed order.
 */
import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, createSimulatedGateway, gatewaySettingsFromConfig } from '../../activities';
import type { PlaceOrderInput } from '../../activities/contract';
import { chargeIdempotencyKey } from '../../activities/saga-steps';
import { markOrderCancelRequested } from '../../lib/db';
import { redisKeys } from '../../lib/events';
import { checkInvariants } from '../../lib/invariants';
import { requestHashOf } from '../../lib/order-lines';
import { workflowIdFor } from '../../workflows/definitions';
import { directActivities, testActivities } from '../support/saga-helpers';
import { insertProducts, testDb, uniqueSku } from '../support/services';
import { until, waitFor } from '../support/wait';

const STOCK = 10;
const PRICE = 500;

describe('saga steps on real PostgreSQL and Redis', () => {
  const { config, db, redis, activities: steps } = directActivities({ latencyMs: { minMs: 0, maxMs: 0 } });

  async function newOrder(quantity = 2, run = 'run-a'): Promise<PlaceOrderInput & { sku: string }> {
    const sku = uniqueSku('steps');
    await insertProducts(db, [{ sku, stock: STOCK, priceCents: PRICE }]);
    const orderId = randomUUID();
    const lines = [{ sku, quantity }];
    return {
      sku,
      orderId,
      eventKeyPrefix: `${run}/1`,
      customerId: `cust-${orderId.slice(0, 8)}`,
      workflowId: workflowIdFor(orderId),
      lines,
      paymentToken: 'tok_ok',
      requestHash: requestHashOf({ lines, paymentToken: 'tok_ok' }),
      currency: 'USD',
    };
  }

  /** Run `run` of the order charges `amountCents` with tok_ok as its step 2 (round 1). */
  function chargeAsRun(input: PlaceOrderInput, run: string, amountCents: number) {
    return steps.chargeOrder({
      ...input,
      eventKeyPrefix: `${run}/2`,
      runId: run,
      amountCents,
      paymentToken: 'tok_ok',
      round: 1,
    });
  }

  /** Run `run` of the order charges `amountCents` with tok_ok (step 2) and completes it (step 3). */
  async function chargeAndComplete(input: PlaceOrderInput, run: string, amountCents: number): Promise<void> {
    const charged = await chargeAsRun(input, run, amountCents);
    expect(charged.status).toBe('approved');
    await steps.completeOrder({ orderId: input.orderId, eventKeyPrefix: `${run}/3` });
  }

  /** Run `prefix`'s compensation of the order, ending it CANCELLED for `reason`. */
  async function cancelOrder(input: PlaceOrderInput, eventKeyPrefix: string, reason = 'x') {
    return steps.compensateOrder({ orderId: input.orderId, eventKeyPrefix, status: 'CANCELLED', reason });
  }

  async function events(orderId: string): Promise<[number, string][]> {
    const rows = await db('order_events').where({ order_id: orderId }).orderBy('seq').select('seq', 'status');
    return rows.map((row: { seq: number; status: string }) => [row.seq, row.status]);
  }

  async function orderStatus(orderId: string): Promise<string | undefined> {
    return (await db('orders').where({ id: orderId }).first<{ status: string } | undefined>('status'))?.status;
  }

  async function stock(sku: string): Promise<number> {
    return (await db('products').where({ sku }).first<{ stock: number }>('stock')).stock;
  }

  async function expectBooks(sku: string, orderId: string) {
    expect(await checkInvariants(db, { initialStock: new Map([[sku, STOCK]]), orderIds: [orderId] })).toEqual([]);
  }

  test('when placeOrder runs twice with the same key, then one order, one reservation and PENDING, RESERVED once', async () => {
    const input = await newOrder();
    const first = await steps.placeOrder(input);
    const again = await steps.placeOrder(input);

    expect(first).toMatchObject({ status: 'RESERVED', reservation: { status: 'RESERVED', totalCents: 2 * PRICE } });
    expect(again.reservation).toEqual(first.reservation);
    expect(again.events).toEqual(first.events.filter((event) => event.status === 'RESERVED'));
    expect(await events(input.orderId)).toEqual([
      [1, 'PENDING'],
      [2, 'RESERVED'],
    ]);
    expect(await stock(input.sku)).toBe(STOCK - 2);
  });

  test('when a step records under a new run, then its status gets a seq above every earlier one and becomes the order status', async () => {
    const input = await newOrder();
    await steps.placeOrder(input);
    await cancelOrder(input, 'run-a/2');
    // The same keys again (a retried activity) write nothing; a Reset run's keys always append.
    await cancelOrder(input, 'run-a/2');
    const reset = await steps.placeOrder({ ...input, eventKeyPrefix: 'run-b/1' });

    expect(reset.status).toBe('RESERVED');
    expect(await events(input.orderId)).toEqual([
      [1, 'PENDING'],
      [2, 'RESERVED'],
      [3, 'CANCELLED'],
      [4, 'RESERVED'],
    ]);
    expect(await orderStatus(input.orderId)).toBe('RESERVED');
    expect(await stock(input.sku)).toBe(STOCK - 2);
  });

  test('when a Reset run re-places a released order, then the stock is held again at the price first reserved', async () => {
    const input = await newOrder();
    await steps.placeOrder(input);
    await cancelOrder(input, 'run-a/2');
    await db('products')
      .where({ sku: input.sku })
      .update({ price_cents: PRICE * 3 });

    const reset = await steps.placeOrder({ ...input, eventKeyPrefix: 'run-b/1' });
    expect(reset.reservation).toMatchObject({ status: 'RESERVED', totalCents: 2 * PRICE });
    const reservations = await db('stock_reservations').where({ order_id: input.orderId }).select('status');
    expect(reservations).toEqual([{ status: 'held' }]);
  });

  test('when a Reset run re-places a completed order, then it records COMPLETED again and changes nothing else', async () => {
    const input = await newOrder();
    const placed = await steps.placeOrder(input);
    const total = placed.reservation.status === 'RESERVED' ? placed.reservation.totalCents : 0;
    await chargeAndComplete(input, 'run-a', total);

    const reset = await steps.placeOrder({ ...input, eventKeyPrefix: 'run-b/1' });
    expect(reset.status).toBe('COMPLETED');
    expect((await events(input.orderId)).map(([, s]) => s)).toEqual([
      'PENDING',
      'RESERVED',
      'CHARGING',
      'PAID',
      'COMPLETED',
      'COMPLETED',
    ]);
    expect(await stock(input.sku)).toBe(STOCK - 2);
    await expectBooks(input.sku, input.orderId);
  });

  test('when a cancel is marked before the charge starts, then nothing is charged and CHARGING is not recorded', async () => {
    const input = await newOrder();
    await steps.placeOrder(input);
    expect(await markOrderCancelRequested(db, input.orderId, 'run-a')).toBe(true);

    const charged = await chargeAsRun(input, 'run-a', 2 * PRICE);
    expect(charged).toEqual({ status: 'cancelled', events: [] });
    expect(await db('payments').where({ order_id: input.orderId })).toEqual([]);
    expect(await orderStatus(input.orderId)).toBe('RESERVED');
  });

  test('when a charge scheduled by the replaced run is carried into a Reset run, then it acts for the new run: the old cancel mark is not its own', async () => {
    // A Reset to a workflow task after `chargeOrder` was scheduled (signals excluded) carries that activity into
    // the new run with the old run's id and key prefix in its input; the cancel was marked for the old run only.
    const input = await newOrder();
    await steps.placeOrder(input);
    expect(await markOrderCancelRequested(db, input.orderId, 'run-a')).toBe(true);
    const carried = new MockActivityEnvironment({
      workflowExecution: { workflowId: workflowIdFor(input.orderId), runId: 'run-b' },
    });

    const charged = await carried.run(steps.chargeOrder, {
      ...input,
      eventKeyPrefix: 'run-a/2',
      runId: 'run-a',
      amountCents: 2 * PRICE,
      paymentToken: 'tok_ok',
      round: 1,
      complete: true,
    });
    expect(charged).toMatchObject({ status: 'approved', completed: true });
    const keys = await db('order_events').where({ order_id: input.orderId }).orderBy('seq').pluck('event_key');
    expect(keys.slice(2)).toEqual(['run-b/2/CHARGING', 'run-b/2/PAID', 'run-b/2/COMPLETED']);
    await expectBooks(input.sku, input.orderId);
  });

  test('when another run closed the order before this charge starts, then nothing is charged and CHARGING is not recorded', async () => {
    // A run reset to a point after its placement, or the run a Reset replaced, meets an order already CANCELLED.
    const input = await newOrder();
    await steps.placeOrder(input);
    await cancelOrder(input, 'run-b/1', 'customer');

    const charged = await chargeAsRun(input, 'run-a', 2 * PRICE);
    expect(charged).toEqual({ status: 'cancelled', events: [], closedAs: 'CANCELLED' });
    expect(await db('payments').where({ order_id: input.orderId })).toEqual([]);
    expect((await events(input.orderId)).at(-1)).toEqual([3, 'CANCELLED']);
    await expectBooks(input.sku, input.orderId);
  });

  test('when a replaced run charges while the Reset run completes the order under the same key, then the capture is kept, not refunded', async () => {
    // Run B (the run a Reset replaced) is at the gateway with tok_slow when run A charges tok_ok and completes the
    // order. Both count the same settled charges, so both charge `payment-<orderId>`: one capture, which B meets.
    let reached!: () => void;
    let release!: () => void;
    const atGateway = new Promise<void>((resolve) => (reached = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    const gated = testActivities(config, db, redis, {
      gateway: {
        latencyMs: { minMs: 0, maxMs: 0 },
        slowMs: 1,
        sleep: async () => {
          reached();
          await released;
        },
      },
    });
    const input = await newOrder();
    await steps.placeOrder(input);
    const charge = { ...input, amountCents: 2 * PRICE, round: 1, complete: true };
    const replaced = gated.chargeOrder({
      ...charge,
      eventKeyPrefix: 'run-b/2',
      runId: 'run-b',
      paymentToken: 'tok_slow',
    });
    await atGateway;
    await expect(
      steps.chargeOrder({ ...charge, eventKeyPrefix: 'run-a/2', runId: 'run-a', paymentToken: 'tok_ok' }),
    ).resolves.toMatchObject({ status: 'approved', completed: true });
    release();

    await expect(replaced).resolves.toMatchObject({ status: 'cancelled', closedAs: 'COMPLETED' });
    expect(await orderStatus(input.orderId)).toBe('COMPLETED');
    expect(await db('payments').where({ order_id: input.orderId }).select('idempotency_key', 'status')).toEqual([
      { idempotency_key: chargeIdempotencyKey(input.orderId, 0), status: 'approved' },
    ]);
    await expectBooks(input.sku, input.orderId);
  });

  test('when a placement names an existing order with another request hash, then it fails as OrderConflict and nothing changes', async () => {
    // A run started by hand with the id of a cancelled order, other lines and another token: never a reopened order.
    const input = await newOrder();
    await steps.placeOrder(input);
    await cancelOrder(input, 'run-a/2', 'customer');
    const before = { events: await events(input.orderId), stock: await stock(input.sku) };

    const other = { lines: [{ sku: input.sku, quantity: 3 }], paymentToken: 'tok_decline' };
    await expect(
      steps.placeOrder({ ...input, ...other, eventKeyPrefix: 'run-x/1', requestHash: requestHashOf(other) }),
    ).rejects.toMatchObject({ type: 'OrderConflict', nonRetryable: true });
    expect({ events: await events(input.orderId), stock: await stock(input.sku) }).toEqual(before);
    expect(await orderStatus(input.orderId)).toBe('CANCELLED');
    await expectBooks(input.sku, input.orderId);
  });

  type Placement = PlaceOrderInput & { sku: string };
  test.each<[string, (input: Placement) => Partial<PlaceOrderInput>]>([
    ['other lines', (input) => ({ lines: [{ sku: input.sku, quantity: 3 }] })],
    ['another payment token', () => ({ paymentToken: 'tok_decline' })],
    ['a made-up hash', () => ({ requestHash: 'x'.repeat(64) })],
  ])(
    "when a placement's request hash is not that of its lines and token (%s), then it fails and nothing changes",
    async (_what, change) => {
      // A run started by hand with the stored order's own hash copied in: it must not reopen the order with other
      // lines, nor charge another card for it.
      const input = await newOrder();
      await steps.placeOrder(input);
      await cancelOrder(input, 'run-a/2', 'customer');
      const before = { events: await events(input.orderId), stock: await stock(input.sku) };

      await expect(steps.placeOrder({ ...input, ...change(input), eventKeyPrefix: 'run-x/1' })).rejects.toMatchObject({
        type: 'InvalidActivityInput',
        nonRetryable: true,
      });
      expect({ events: await events(input.orderId), stock: await stock(input.sku) }).toEqual(before);
      expect(await orderStatus(input.orderId)).toBe('CANCELLED');
      await expectBooks(input.sku, input.orderId);
    },
  );

  test('when an order was charged and refunded, then the next charge uses a new idempotency key and captures once', async () => {
    const input = await newOrder();
    await steps.placeOrder(input);
    const charge = { ...input, amountCents: 2 * PRICE, paymentToken: 'tok_ok', round: 1, runId: 'run-a' };
    await expect(steps.chargeOrder({ ...charge, eventKeyPrefix: 'run-a/2' })).resolves.toMatchObject({
      status: 'approved',
      idempotencyKey: chargeIdempotencyKey(input.orderId, 0),
    });
    await cancelOrder(input, 'run-a/3');
    await steps.placeOrder({ ...input, eventKeyPrefix: 'run-b/1' });
    await expect(steps.chargeOrder({ ...charge, eventKeyPrefix: 'run-b/2' })).resolves.toMatchObject({
      status: 'approved',
      idempotencyKey: chargeIdempotencyKey(input.orderId, 1),
    });
    await steps.completeOrder({ orderId: input.orderId, eventKeyPrefix: 'run-b/3' });

    const payments = await db('payments').where({ order_id: input.orderId }).orderBy('id').select('status');
    expect(payments).toEqual([{ status: 'refunded' }, { status: 'approved' }]);
    await expectBooks(input.sku, input.orderId);
  });

  test('when a charge attempt is retried after the gateway declined, then the retry answers that decline under the same key and charges nothing more', async () => {
    const input = await newOrder();
    await steps.placeOrder(input);
    const charge = {
      ...input,
      eventKeyPrefix: 'run-a/2',
      runId: 'run-a',
      amountCents: 2 * PRICE,
      paymentToken: 'tok_decline',
      round: 1,
    };
    const firstKey = chargeIdempotencyKey(input.orderId, 0);
    // Attempt 1 reaches the gateway, which declines; its answer is lost (worker killed, session cut) and Temporal
    // retries the activity: the decline is now a settled charge of the order, but not of another round.
    await expect(steps.chargeOrder(charge)).resolves.toMatchObject({ status: 'declined', idempotencyKey: firstKey });
    const retried = await new MockActivityEnvironment({
      attempt: 2,
      workflowExecution: { workflowId: workflowIdFor(input.orderId), runId: 'run-a' },
    }).run(steps.chargeOrder, charge);
    expect(retried).toMatchObject({ status: 'declined', idempotencyKey: firstKey });
    expect(await db('payments').where({ order_id: input.orderId }).select('idempotency_key', 'status')).toEqual([
      { idempotency_key: firstKey, status: 'declined' },
    ]);
  });

  test('when a compensation is conditional on the newest seq, then it runs while that seq is newest, repeats, and changes nothing once it is not', async () => {
    const input = await newOrder();
    await steps.placeOrder(input); // PENDING 1, RESERVED 2
    const undo = (ifLastSeq: number, eventKeyPrefix = 'reconcile/run-a/RESERVED') =>
      steps.compensateOrder({ orderId: input.orderId, eventKeyPrefix, status: 'CANCELLED', reason: 'x', ifLastSeq });

    await expect(undo(1)).rejects.toMatchObject({ type: 'OrderChanged', nonRetryable: true });
    expect(await orderStatus(input.orderId)).toBe('RESERVED');
    expect(await stock(input.sku)).toBe(STOCK - 2);

    await expect(undo(2)).resolves.toMatchObject({ status: 'CANCELLED' });
    // A retry of the same call finds its own CANCELLED on top.
    await expect(undo(2)).resolves.toMatchObject({ status: 'CANCELLED' });
    expect(await events(input.orderId)).toEqual([
      [1, 'PENDING'],
      [2, 'RESERVED'],
      [3, 'CANCELLED'],
    ]);
    await expectBooks(input.sku, input.orderId);
  });

  test('when compensation meets committed stock, then the order stays COMPLETED and nothing is refunded', async () => {
    const input = await newOrder();
    await steps.placeOrder(input);
    await chargeAndComplete(input, 'run-a', 2 * PRICE);

    const result = await cancelOrder(input, 'run-b/2', 'late');
    expect(result).toMatchObject({ status: 'COMPLETED', released: 0, refunded: 0 });
    expect(await orderStatus(input.orderId)).toBe('COMPLETED');
    expect(await db('payments').where({ order_id: input.orderId }).select('status')).toEqual([{ status: 'approved' }]);
    await expectBooks(input.sku, input.orderId);
  });

  test('when stock is short, then placeOrder records REJECTED and holds nothing', async () => {
    const input = await newOrder(STOCK + 1);
    const placed = await steps.placeOrder(input);
    expect(placed).toMatchObject({ status: 'REJECTED', reservation: { reason: 'insufficient_stock' } });
    expect(await events(input.orderId)).toEqual([
      [1, 'PENDING'],
      [2, 'REJECTED'],
    ]);
    expect(await stock(input.sku)).toBe(STOCK);
  });

  test('when a run ends CANCELLED but another run has completed the order since, then confirmTerminal reports and records COMPLETED', async () => {
    const input = await newOrder();
    await steps.placeOrder(input);
    await cancelOrder(input, 'run-a/2');
    // A Reset run retries the order to completion...
    const placed = await steps.placeOrder({ ...input, eventKeyPrefix: 'run-b/1' });
    const total = placed.reservation.status === 'RESERVED' ? placed.reservation.totalCents : 0;
    await chargeAndComplete(input, 'run-b', total);

    // ...then a Reset of run a to its last task replays its CANCELLED compensation and confirms it.
    const confirmed = await steps.confirmTerminal({
      orderId: input.orderId,
      eventKeyPrefix: 'run-c/9',
      status: 'CANCELLED',
    });
    expect(confirmed.status).toBe('COMPLETED');
    expect(await orderStatus(input.orderId)).toBe('COMPLETED');
    // Nothing to say when the row already agrees.
    await expect(
      steps.confirmTerminal({ orderId: input.orderId, eventKeyPrefix: 'run-d/9', status: 'COMPLETED' }),
    ).resolves.toEqual({ status: 'COMPLETED' });
    await expectBooks(input.sku, input.orderId);
  });

  test('when a placement takes stock to its low-stock threshold, then the admin channel hears product.stock and product.low_stock', async () => {
    const input = await newOrder(STOCK - 3); // leaves 3, at or below the default threshold of 5
    const subscriber = redis.duplicate();
    const heard: { event: string; payload: { sku: string; stock: number; kind?: string } }[] = [];
    try {
      await subscriber.subscribe(redisKeys(config.redisKeyPrefix).adminChannel);
      subscriber.on('message', (_channel, message: string) =>
        heard.push(JSON.parse(message) as (typeof heard)[number]),
      );
      await steps.placeOrder(input);
      await waitFor('the low-stock event', () =>
        Promise.resolve(heard.some((m) => m.event === 'product.low_stock') ? true : undefined),
      );
    } finally {
      await subscriber.quit();
    }
    const mine = heard.filter((m) => m.payload.sku === input.sku);
    expect(mine).toContainEqual(
      expect.objectContaining({
        event: 'product.stock',
        payload: expect.objectContaining({ stock: 3, kind: 'reserve' }),
      }),
    );
    expect(mine).toContainEqual(
      expect.objectContaining({ event: 'product.low_stock', payload: expect.objectContaining({ stock: 3 }) }),
    );
  });
});

/** Run `run`'s placement (step 1) of order `orderId`: two `sku`, paid with tok_slow, under its own request hash. */
function placementOf(orderId: string, sku: string, run: string): PlaceOrderInput {
  const lines = [{ sku, quantity: 2 }];
  const paymentToken = 'tok_slow';
  return {
    orderId,
    eventKeyPrefix: `${run}/1`,
    customerId: `cust-${orderId.slice(0, 8)}`,
    workflowId: workflowIdFor(orderId),
    lines,
    paymentToken,
    requestHash: requestHashOf({ lines, paymentToken }),
    currency: 'USD',
  };
}

describe('a charge racing the run that replaced it', () => {
  /** Runs once, inside the gateway's charge: what another run does while this charge is at the gateway. */
  let duringCharge: (() => Promise<void>) | undefined;
  const atGateway = {
    latencyMs: { minMs: 0, maxMs: 0 },
    sleep: async () => {
      const hook = duringCharge;
      duringCharge = undefined;
      await hook?.();
    },
  };
  const { config, db, redis, activities: steps } = directActivities(atGateway);
  /** The same steps on a pool of one connection (DB_POOL_MAX=1). */
  const oneConnection = testDb(config, 1);
  afterAll(() => oneConnection.destroy());
  const onOneConnection = testActivities(config, oneConnection, redis, { gateway: atGateway });

  test('when another run closes the order while the gateway charges, then PAID is not recorded and the capture is refunded', async () => {
    const sku = uniqueSku('steps-race');
    await insertProducts(db, [{ sku, stock: STOCK, priceCents: PRICE }]);
    const orderId = randomUUID();
    const input = placementOf(orderId, sku, 'run-a');
    await steps.placeOrder(input);
    duringCharge = async () => {
      await steps.compensateOrder({ orderId, eventKeyPrefix: 'run-b/1', status: 'CANCELLED', reason: 'customer' });
    };

    const charged = await steps.chargeOrder({
      ...input,
      eventKeyPrefix: 'run-a/2',
      runId: 'run-a',
      amountCents: 2 * PRICE,
      paymentToken: 'tok_slow',
      round: 1,
      complete: true,
    });
    expect(duringCharge).toBeUndefined(); // the other run did close the order mid-charge
    expect(charged).toMatchObject({ status: 'cancelled', closedAs: 'CANCELLED' });
    const statuses = await db('order_events').where({ order_id: orderId }).orderBy('seq').pluck('status');
    expect(statuses).toEqual(['PENDING', 'RESERVED', 'CHARGING', 'CANCELLED']);
    expect(await db('payments').where({ order_id: orderId }).pluck('status')).toEqual(['refunded']);
    expect(await checkInvariants(db, { initialStock: new Map([[sku, STOCK]]), orderIds: [orderId] })).toEqual([]);
  });

  test('when another run closes the order while the gateway charges, then the capture is refunded on the one connection', async () => {
    // The refund runs in the transaction that holds the order row lock: with a second connection it would wait for
    // itself until the pool's acquire timeout.
    const sku = uniqueSku('steps-pool1');
    await insertProducts(oneConnection, [{ sku, stock: STOCK, priceCents: PRICE }]);
    const input = placementOf(randomUUID(), sku, 'run-a');
    await onOneConnection.placeOrder(input);
    duringCharge = async () => {
      await onOneConnection.compensateOrder({
        orderId: input.orderId,
        eventKeyPrefix: 'run-b/1',
        status: 'CANCELLED',
        reason: 'x',
      });
    };
    const charged = await onOneConnection.chargeOrder({
      ...input,
      eventKeyPrefix: 'run-a/2',
      runId: 'run-a',
      amountCents: 2 * PRICE,
      round: 1,
      complete: true,
    });
    expect(charged).toMatchObject({ status: 'cancelled', closedAs: 'CANCELLED' });
    expect(await oneConnection('payments').where({ order_id: input.orderId }).pluck('status')).toEqual(['refunded']);
    expect(
      await checkInvariants(oneConnection, { initialStock: new Map([[sku, STOCK]]), orderIds: [input.orderId] }),
    ).toEqual([]);
  }, 30_000);
});

describe('a late capture refunded while a Reset run reopens the order', () => {
  /** Runs once, when the gateway is asked to refund: what a Reset run does while a late capture is given back. */
  let duringRefund: (() => Promise<void>) | undefined;
  let closeDuringCharge: (() => Promise<void>) | undefined;
  const { config, db, redis } = directActivities();
  const simulated = createSimulatedGateway({
    db,
    ...gatewaySettingsFromConfig(config),
    latencyMs: { minMs: 0, maxMs: 0 },
    sleep: async () => {
      const hook = closeDuringCharge;
      closeDuringCharge = undefined;
      await hook?.();
    },
  });
  const steps = createActivities({
    db,
    redis,
    redisKeyPrefix: config.redisKeyPrefix,
    gateway: {
      charge: (...args) => simulated.charge(...args),
      async refund(idempotencyKey, within) {
        const hook = duringRefund;
        duringRefund = undefined;
        await hook?.();
        return simulated.refund(idempotencyKey, within);
      },
    },
  });

  /** A new order of a product of its own; `charge` is one run's charge of it (step 2, round 1). */
  async function raceOrder(label: string) {
    const sku = uniqueSku(label);
    await insertProducts(db, [{ sku, stock: STOCK, priceCents: PRICE }]);
    const orderId = randomUUID();
    const placement = (run: string) => placementOf(orderId, sku, run);
    const charge = (run: string, paymentToken: string, complete?: true) =>
      steps.chargeOrder({
        ...placement(run),
        eventKeyPrefix: `${run}/2`,
        runId: run,
        amountCents: 2 * PRICE,
        paymentToken,
        round: 1,
        ...(complete ? { complete } : {}),
      });
    return { sku, orderId, placement, charge };
  }

  /** Until a session waits on a row lock (the Reset run, behind the order row lock), or `done` settles first. */
  async function lockWaitOr(done: Promise<unknown>): Promise<void> {
    const waitsForLock = until('a session waiting on a row lock', async () => {
      const { rows } = await db.raw<{ rows: unknown[] }>(
        `SELECT 1 FROM pg_stat_activity
          WHERE datname = current_database() AND state = 'active' AND wait_event_type = 'Lock'`,
      );
      return rows.length > 0;
    });
    await Promise.race([waitsForLock, done]);
  }

  /** The Reset run completed the order on a new key; the first capture is refunded; the books agree. */
  async function expectCompletedOnNewKey(sku: string, orderId: string): Promise<void> {
    expect(await db('orders').where({ id: orderId }).first('status')).toEqual({ status: 'COMPLETED' });
    expect(await db('payments').where({ order_id: orderId }).orderBy('id').select('idempotency_key', 'status')).toEqual(
      [
        { idempotency_key: chargeIdempotencyKey(orderId, 0), status: 'refunded' },
        { idempotency_key: chargeIdempotencyKey(orderId, 1), status: 'approved' },
      ],
    );
    expect(await checkInvariants(db, { initialStock: new Map([[sku, STOCK]]), orderIds: [orderId] })).toEqual([]);
  }

  test('when the compensation of a replaced run refunds while the Reset run places and charges, then the Reset run waits and the books agree', async () => {
    const { sku, orderId, placement, charge } = await raceOrder('steps-stale-undo');
    // Run A: placed and paid (a cancel came during its charge: PAID without the commit), then its compensation.
    await steps.placeOrder(placement('run-a'));
    await expect(charge('run-a', 'tok_ok')).resolves.toMatchObject({ status: 'approved' });
    // While A's compensation is at the gateway refunding, an operator's Reset starts run C, which places the order
    // again and charges. Were A's capture still approved to C, C would charge its key, meet that capture and complete
    // the order; A would then refund it and record CANCELLED over committed stock.
    let retried: Promise<unknown> | undefined;
    duringRefund = async () => {
      retried = steps.placeOrder(placement('run-c')).then(() => charge('run-c', 'tok_ok', true));
      await lockWaitOr(retried);
    };

    const undone = await steps.compensateOrder({
      orderId,
      eventKeyPrefix: 'run-a/3',
      status: 'CANCELLED',
      reason: 'customer',
    });
    expect(duringRefund).toBeUndefined();
    expect(undone).toMatchObject({ status: 'CANCELLED', refunded: 1 });
    await expect(retried).resolves.toMatchObject({ status: 'approved', completed: true });
    await expectCompletedOnNewKey(sku, orderId);
  });

  test('when a Reset run reopens the order while a late capture is refunded, then it waits and charges under a new key', async () => {
    const { sku, orderId, placement, charge } = await raceOrder('steps-late');
    await steps.placeOrder(placement('run-a'));
    // Run A's capture meets the order CANCELLED by run B; while A refunds it, run C (a Reset to the first workflow
    // task) places the order again and charges. C counts the settled charges to pick its key: were A's capture still
    // approved, C would charge `payment-<orderId>`, meet that capture and complete the order on money given back.
    closeDuringCharge = async () => {
      await steps.compensateOrder({ orderId, eventKeyPrefix: 'run-b/1', status: 'CANCELLED', reason: 'customer' });
    };
    let reopened: Promise<unknown> | undefined;
    duringRefund = async () => {
      reopened = steps.placeOrder(placement('run-c')).then(() => charge('run-c', 'tok_ok', true));
      await lockWaitOr(reopened);
    };

    await expect(charge('run-a', 'tok_slow', true)).resolves.toMatchObject({ status: 'cancelled' });
    expect(closeDuringCharge).toBeUndefined();
    expect(duringRefund).toBeUndefined();
    await expect(reopened).resolves.toMatchObject({ status: 'approved', completed: true });
    await expectCompletedOnNewKey(sku, orderId);
  });
});
