import { randomUUID } from 'node:crypto';
import { ACTIVITY_FAILURE_TYPES, PENDING_EVENT_SEQ, type RecordOrderInput } from '../../activities/contract';
import { redisKeys, type OrderEvent } from '../../lib/events';
import { checkInvariants } from '../../lib/invariants';
import { workflowIdFor } from '../../workflows/definitions';
import { directActivities } from '../support/saga-helpers';
import { insertProducts, uniqueSku } from '../support/services';

describe('order records and events on real PostgreSQL and Redis', () => {
  const { config, db, redis, activities } = directActivities();

  function newOrder(overrides: Partial<RecordOrderInput> = {}): RecordOrderInput {
    const orderId = randomUUID();
    return {
      orderId,
      customerId: `cust-${randomUUID().slice(0, 8)}`,
      workflowId: workflowIdFor(orderId),
      lines: [{ sku: 'ANY-1', quantity: 2 }],
      requestHash: 'a'.repeat(64),
      idempotencyKey: `idem-${randomUUID()}`,
      currency: 'USD',
      ...overrides,
    };
  }

  /** Events published for one order, in stream order. */
  async function published(orderId: string): Promise<OrderEvent[]> {
    const entries = await redis.xrange(redisKeys(config.redisKeyPrefix).eventsStream, '-', '+');
    return entries
      .map(([, fields]) => JSON.parse(fields[1] ?? '{}') as OrderEvent)
      .filter((event) => event.orderId === orderId);
  }

  interface StoredEvent {
    seq: number;
    status: string;
    detail: Record<string, unknown>;
    created_at: Date;
  }

  async function eventsOf(orderId: string): Promise<StoredEvent[]> {
    return db<StoredEvent & { order_id: string }>('order_events')
      .where({ order_id: orderId })
      .orderBy('seq')
      .select('seq', 'status', 'detail', 'created_at');
  }

  async function orderRow(orderId: string): Promise<Record<string, unknown> | undefined> {
    return db<Record<string, unknown>>('orders').where({ id: orderId }).first();
  }

  it('when recordOrder runs, then the order is PENDING with total 0 and its seq 1 PENDING event is stored and published', async () => {
    const input = newOrder();

    const result = await activities.recordOrder(input);

    expect(result.seq).toBe(PENDING_EVENT_SEQ);
    expect(await orderRow(input.orderId)).toMatchObject({
      customer_id: input.customerId,
      status: 'PENDING',
      total_cents: '0',
      currency: 'USD',
      idempotency_key: input.idempotencyKey,
      request_hash: input.requestHash,
      workflow_id: input.workflowId,
      failure_reason: null,
    });
    const events = await eventsOf(input.orderId);
    expect(events).toEqual([
      { seq: 1, status: 'PENDING', detail: { lines: input.lines }, created_at: expect.any(Date) },
    ]);
    expect(result.at).toBe(events[0]?.created_at.toISOString());
    expect(await published(input.orderId)).toEqual([
      {
        orderId: input.orderId,
        customerId: input.customerId,
        seq: 1,
        status: 'PENDING',
        at: result.at,
        detail: { lines: input.lines },
      },
    ]);
  });

  it('when recordOrder runs twice, then there is one order and one event, and both calls return the same event', async () => {
    const input = newOrder();

    const first = await activities.recordOrder(input);
    const second = await activities.recordOrder(input);

    expect(second).toEqual(first);
    expect(await db('orders').where({ id: input.orderId })).toHaveLength(1);
    expect(await eventsOf(input.orderId)).toHaveLength(1);
    // Delivery is at least once: a retry publishes the same event again, which clients drop by seq.
    const copies = await published(input.orderId);
    expect(copies.length).toBeGreaterThanOrEqual(1);
    for (const copy of copies) expect(copy).toEqual(copies[0]);
  });

  it('when another order reuses a customer idempotency key, then recordOrder fails without retry and writes nothing', async () => {
    const first = newOrder();
    await activities.recordOrder(first);
    const clash = newOrder({ customerId: first.customerId, idempotencyKey: first.idempotencyKey });

    await expect(activities.recordOrder(clash)).rejects.toMatchObject({
      type: ACTIVITY_FAILURE_TYPES.orderConflict,
      nonRetryable: true,
    });

    expect(await orderRow(clash.orderId)).toBeUndefined();
    expect(await eventsOf(clash.orderId)).toEqual([]);
  });

  it('when recordStatus runs, then the order row and a new event change together and the event is published', async () => {
    const input = newOrder();
    await activities.recordOrder(input);

    const result = await activities.recordStatus({
      orderId: input.orderId,
      seq: 2,
      status: 'RESERVED',
      detail: { totalCents: 2500 },
      totalCents: 2500,
    });

    expect(result.seq).toBe(2);
    expect(await orderRow(input.orderId)).toMatchObject({ status: 'RESERVED', total_cents: '2500' });
    const events = await eventsOf(input.orderId);
    expect(events.map((e) => [e.seq, e.status])).toEqual([
      [1, 'PENDING'],
      [2, 'RESERVED'],
    ]);
    expect(result.at).toBe(events[1]?.created_at.toISOString());
    expect((await published(input.orderId)).at(-1)).toEqual({
      orderId: input.orderId,
      customerId: input.customerId,
      seq: 2,
      status: 'RESERVED',
      at: result.at,
      detail: { totalCents: 2500 },
    });
  });

  it('when recordStatus runs twice with the same seq, then nothing new is written and both calls return the same event', async () => {
    const input = newOrder();
    await activities.recordOrder(input);
    const transition = {
      orderId: input.orderId,
      seq: 2,
      status: 'FAILED' as const,
      detail: { reason: 'card_declined' },
      failureReason: 'card_declined',
    };

    const first = await activities.recordStatus(transition);
    const afterFirst = await orderRow(input.orderId);
    const second = await activities.recordStatus(transition);

    expect(second).toEqual(first);
    expect(await eventsOf(input.orderId)).toHaveLength(2);
    const afterSecond = await orderRow(input.orderId);
    expect(afterSecond).toEqual(afterFirst);
    expect(afterSecond).toMatchObject({ status: 'FAILED', failure_reason: 'card_declined' });
  });

  it('when an older seq is recorded after a newer one, then its event is kept but the status does not go backwards', async () => {
    const input = newOrder();
    await activities.recordOrder(input);

    await activities.recordStatus({ orderId: input.orderId, seq: 3, status: 'CHARGING' });
    await activities.recordStatus({ orderId: input.orderId, seq: 2, status: 'RESERVED', totalCents: 100 });

    expect(await orderRow(input.orderId)).toMatchObject({ status: 'CHARGING' });
    expect((await eventsOf(input.orderId)).map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it('when recordOrder runs 20 times at once, then there is one order and one event, and every call returns it', async () => {
    const input = newOrder();

    const results = await Promise.all(Array.from({ length: 20 }, () => activities.recordOrder(input)));

    for (const result of results) expect(result).toEqual(results[0]);
    expect(await db('orders').where({ id: input.orderId })).toHaveLength(1);
    expect(await eventsOf(input.orderId)).toHaveLength(1);
  });

  it('when transitions arrive at once and out of order, then every event is stored once and the status is the newest', async () => {
    const input = newOrder();
    await activities.recordOrder(input);
    const statuses = ['RESERVED', 'CHARGING', 'NEEDS_ATTENTION', 'CHARGING', 'PAID', 'COMPLETED'] as const;
    const transitions = statuses.map((status, index) => ({ orderId: input.orderId, seq: index + 2, status }));
    // Every transition three times (retries racing the first call), newest first, all at once.
    const calls = [...transitions].reverse().flatMap((transition) => [transition, transition, transition]);

    const results = await Promise.all(calls.map((transition) => activities.recordStatus(transition)));

    for (const [index, result] of results.entries()) expect(result.seq).toBe(calls[index]?.seq);
    expect((await eventsOf(input.orderId)).map((e) => [e.seq, e.status])).toEqual([
      [1, 'PENDING'],
      ...transitions.map((t) => [t.seq, t.status]),
    ]);
    expect(await orderRow(input.orderId)).toMatchObject({ status: 'COMPLETED', status_seq: 7 });
  });

  it.each([
    ['an order that was never recorded', randomUUID(), 2, ACTIVITY_FAILURE_TYPES.orderNotRecorded],
    ['seq 1, which recordOrder owns', randomUUID(), 1, ACTIVITY_FAILURE_TYPES.invalidInput],
  ])('when recordStatus is called for %s, then it fails without retry', async (_label, orderId, seq, type) => {
    await expect(activities.recordStatus({ orderId, seq, status: 'RESERVED' })).rejects.toMatchObject({
      type,
      nonRetryable: true,
    });
    expect(await eventsOf(orderId)).toEqual([]);
  });

  it('when a whole order completes and another is cancelled after payment, then the invariants hold', async () => {
    const sku = uniqueSku('saga');
    await insertProducts(db, [{ sku, stock: 10, priceCents: 700 }]);
    const completed = newOrder({ lines: [{ sku, quantity: 2 }] });
    const cancelled = newOrder({ lines: [{ sku, quantity: 3 }] });

    for (const order of [completed, cancelled]) {
      await activities.recordOrder(order);
      const outcome = await activities.reserveStock({ orderId: order.orderId, lines: order.lines });
      if (outcome.status !== 'RESERVED') throw new Error('expected a reservation');
      await activities.recordStatus({
        orderId: order.orderId,
        seq: 2,
        status: 'RESERVED',
        totalCents: outcome.totalCents,
      });
      await activities.chargePayment({
        orderId: order.orderId,
        idempotencyKey: `payment-${order.workflowId}`,
        amountCents: outcome.totalCents,
        paymentToken: 'tok_ok',
      });
    }
    await activities.recordStatus({ orderId: completed.orderId, seq: 3, status: 'PAID' });
    await activities.commitStock(completed.orderId);
    await activities.recordStatus({ orderId: completed.orderId, seq: 4, status: 'COMPLETED' });
    await activities.refundPayment({ idempotencyKey: `payment-${cancelled.workflowId}` });
    await activities.releaseStock(cancelled.orderId);
    await activities.recordStatus({ orderId: cancelled.orderId, seq: 3, status: 'CANCELLED' });

    expect(await checkInvariants(db, { initialStock: new Map([[sku, 10]]) })).toEqual([]);
    expect(await orderRow(completed.orderId)).toMatchObject({ status: 'COMPLETED', total_cents: '1400' });
    expect((await db('products').where({ sku }).first()).stock).toBe(8);
  });

  it('when orders break the rules, then checkInvariants names every violation', async () => {
    const sku = uniqueSku('broken');
    await insertProducts(db, [{ sku, stock: 10 }]);
    const unpaid = newOrder({ lines: [{ sku, quantity: 1 }] });
    const uncompensated = newOrder({ lines: [{ sku, quantity: 1 }] });
    const drifted = newOrder({ lines: [{ sku, quantity: 1 }] });
    const chargedTwice = newOrder({ lines: [{ sku, quantity: 1 }] });
    for (const order of [unpaid, uncompensated, drifted, chargedTwice]) {
      await activities.recordOrder(order);
      await activities.reserveStock({ orderId: order.orderId, lines: order.lines });
    }
    await activities.recordStatus({ orderId: unpaid.orderId, seq: 2, status: 'COMPLETED', totalCents: 1000 });
    await activities.recordStatus({ orderId: uncompensated.orderId, seq: 2, status: 'FAILED' });
    await db('products').where({ sku }).increment('stock', 5); // stock appearing from nowhere
    // A status written past the event history: the row says RESERVED, its newest event is still PENDING.
    await db('orders').where({ id: drifted.orderId }).update({ status: 'RESERVED' });
    // Two approved charges under two keys.
    for (const key of ['a', 'b']) {
      await activities.chargePayment({
        orderId: chargedTwice.orderId,
        idempotencyKey: `payment-${chargedTwice.orderId}-${key}`,
        amountCents: 1000,
        paymentToken: 'tok_ok',
      });
    }

    const violations = await checkInvariants(db, { initialStock: new Map([[sku, 10]]) });

    expect(violations.map((v) => [v.invariant, v.subject]).sort()).toEqual(
      [
        ['compensated', uncompensated.orderId],
        ['completed_paid_once', unpaid.orderId],
        ['row_is_newest_event', drifted.orderId],
        ['charged_once', chargedTwice.orderId],
        ['committed_iff_completed', unpaid.orderId], // COMPLETED while its stock is still only held
        ['stock_conserved', sku],
        ['stock_ledger', sku],
      ].sort(),
    );
  });
});
