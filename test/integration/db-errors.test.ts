/**
 * Database errors no retry can fix, against real PostgreSQL: each permanent SQLSTATE the saga's writes can meet
 * becomes a non-retryable `PermanentDatabaseError`, the transient ones pass through for Temporal to retry, and
 * no activity of `createActivities` handed text PostgreSQL cannot store leaves the database's refusal retryable
 * (Temporal would retry it forever).
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import { createActivities, createSimulatedGateway, gatewaySettingsFromConfig } from '../../activities';
import { PERMANENT_DB_ERROR_TYPE, withPermanentDbErrorsNonRetryable } from '../../activities/db-errors';
import { TABLES } from '../../lib/db';
import { redisKeys } from '../../lib/events';
import { snapshot } from '../support/api-helpers';
import { insertProducts, testConfig, testDb, testRedis, uniqueSku } from '../support/services';

const config = testConfig();
let db: Knex;
let redis: Redis;
let sku: string;

beforeAll(async () => {
  db = testDb(config);
  redis = testRedis(config);
  sku = uniqueSku('dberr');
  await insertProducts(db, [{ sku, stock: 5 }]);
});

afterAll(async () => {
  await redis.del(redisKeys(config.redisKeyPrefix).eventsStream);
  await redis.quit();
  await db.destroy();
});

/** An order row to write against. */
async function newOrderRow(): Promise<string> {
  const id = randomUUID();
  await db(TABLES.orders).insert({
    id,
    customer_id: 'cust-dberr',
    status: 'PENDING',
    total_cents: 0,
    request_hash: 'd'.repeat(64),
    workflow_id: `order-${id}`,
  });
  return id;
}

/** What a wrapped call ended with: its value, or the error it threw. */
async function outcome(run: () => Promise<unknown>): Promise<{ value?: unknown; error?: unknown }> {
  try {
    return { value: await run() };
  } catch (error) {
    return { error };
  }
}

/** Runs `write` as the only activity of a wrapped activities object. */
function wrapped(write: () => Promise<unknown>): () => Promise<unknown> {
  return withPermanentDbErrorsNonRetryable({ write }).write;
}

describe('permanent database errors', () => {
  const permanent: [string, string, () => Promise<unknown>][] = [
    [
      'U+0000 in jsonb',
      '22P05',
      async () => {
        const orderId = await newOrderRow();
        await db(TABLES.orderEvents).insert({
          order_id: orderId,
          seq: 2,
          status: 'CANCELLED',
          detail: '{"r":"a\\u0000b"}',
        });
      },
    ],
    [
      'U+0000 in text',
      '22021',
      async () => {
        const orderId = await newOrderRow();
        await db(TABLES.orders).where({ id: orderId }).update({ failure_reason: 'stop\u0000now' });
      },
    ],
    [
      'a bigint out of range',
      '22003',
      async () => {
        const orderId = await newOrderRow();
        await db.raw(`UPDATE ${TABLES.orders} SET total_cents = ?::numeric WHERE id = ?`, ['1e19', orderId]);
      },
    ],
    [
      'text too long for its varchar',
      '22001',
      async () => {
        const orderId = await newOrderRow();
        await db(TABLES.orders)
          .where({ id: orderId })
          .update({ customer_id: 'x'.repeat(129) });
      },
    ],
    [
      'a closed order moved to CHARGING (migration 20261130130000)',
      'OF003',
      async () => {
        const orderId = await newOrderRow();
        await db(TABLES.orders).where({ id: orderId }).update({ status: 'CANCELLED' });
        await db(TABLES.orders).where({ id: orderId }).update({ status: 'CHARGING' });
      },
    ],
    ['a check violation', '23514', () => db(TABLES.products).where({ sku }).update({ stock: -1 })],
    ['a not-null violation', '23502', () => db(TABLES.products).where({ sku }).update({ name: null })],
  ];

  test.each(permanent)(
    'when a write meets %s, then it fails with a non-retryable PermanentDatabaseError naming SQLSTATE %s and nothing changes',
    async (_label, sqlstate, write) => {
      const before = await snapshot(db);
      const { error } = await outcome(wrapped(write));
      expect(error).toBeInstanceOf(ApplicationFailure);
      const failure = error as ApplicationFailure;
      expect(failure.type).toBe(PERMANENT_DB_ERROR_TYPE);
      expect(failure.nonRetryable).toBe(true);
      expect(failure.details).toEqual([expect.objectContaining({ sqlstate })]);
      expect(failure.message).toContain(sqlstate);
      // Never the SQL or its values: failure messages are stored unencrypted in the workflow history.
      expect(failure.message).not.toMatch(/stop|update|insert|\\u0000|x{10}/i);
      const after = await snapshot(db);
      expect({ ...after, orders: before.orders }).toEqual(before);
    },
  );

  it('when a check violation names its constraint, then the failure names the table and constraint', async () => {
    const { error } = await outcome(wrapped(() => db(TABLES.products).where({ sku }).update({ stock: -1 })));
    expect((error as ApplicationFailure).details).toEqual([
      {
        sqlstate: '23514',
        condition: 'integrity constraint violation',
        table: 'products',
        constraint: expect.any(String),
      },
    ]);
  });
});

describe('errors a retry can fix, and errors that are not the database', () => {
  it('when two writers race on a unique key, then the unique violation passes through as retryable', async () => {
    const orderId = await newOrderRow();
    const { error } = await outcome(
      wrapped(() =>
        db(TABLES.orders).insert({
          id: orderId,
          customer_id: 'cust-dberr',
          status: 'PENDING',
          total_cents: 0,
          request_hash: 'd'.repeat(64),
          workflow_id: `order-${orderId}`,
        }),
      ),
    );
    expect(error).not.toBeInstanceOf(ApplicationFailure);
    expect((error as { code?: string }).code).toBe('23505');
  });

  it('when a statement is cancelled by its timeout, then the error passes through as retryable', async () => {
    const { error } = await outcome(
      wrapped(() =>
        db.transaction(async (trx) => {
          await trx.raw('SET LOCAL statement_timeout = 10');
          await trx.raw('SELECT pg_sleep(1)');
        }),
      ),
    );
    expect(error).not.toBeInstanceOf(ApplicationFailure);
    expect((error as { code?: string }).code).toBe('57014');
  });

  it('when an activity throws its own failure or a plain error, then it passes through unchanged', async () => {
    const own = ApplicationFailure.create({ message: 'declined', type: 'PaymentDeclined', nonRetryable: true });
    const plain = new Error('gateway timeout');
    const activities = withPermanentDbErrorsNonRetryable({
      own: () => Promise.reject(own),
      plain: () => Promise.reject(plain),
      ok: (a: number, b: number) => Promise.resolve(a + b),
    });
    expect((await outcome(activities.own)).error).toBe(own);
    expect((await outcome(activities.plain)).error).toBe(plain);
    expect(await activities.ok(2, 3)).toBe(5);
  });
});

describe('every activity handed text PostgreSQL cannot store', () => {
  it('when each activity of createActivities gets U+0000 in every text field, then no database error is left retryable', async () => {
    const gateway = createSimulatedGateway({ db, ...gatewaySettingsFromConfig(config) });
    const activities = createActivities({ db, redis, redisKeyPrefix: config.redisKeyPrefix, gateway });
    const orderId = await newOrderRow();
    const bad = 'stop\u0000now';
    // A superset of every activity's input: each reads the fields it knows.
    const input = {
      orderId,
      customerId: bad,
      workflowId: `order-${orderId}`,
      lines: [{ sku: `${sku}\u0000`, quantity: 1 }],
      requestHash: bad,
      idempotencyKey: bad,
      currency: 'USD',
      seq: 2,
      status: 'CANCELLED',
      detail: { reason: bad },
      failureReason: bad,
      reason: bad,
      eventKey: bad,
      amountCents: 100,
      paymentToken: 'tok_ok',
    };
    const retryable: string[] = [];
    for (const [name, activity] of Object.entries(activities)) {
      // Each runs in an activity context, as on a worker (some use its logger or metric meter).
      const { error } = await outcome(() =>
        new MockActivityEnvironment().run(activity as (arg: unknown) => Promise<unknown>, input),
      );
      if (error === undefined || (error instanceof ApplicationFailure && error.nonRetryable)) continue;
      // A database error left retryable is the fault; the superset's shape may also trip a step's own code
      // (`reportReconciliation` expects an array), which is not what this test is about.
      const sqlstate = (error as { code?: unknown }).code;
      if (typeof sqlstate === 'string' && /^[0-9A-Z]{5}$/.test(sqlstate)) {
        retryable.push(`${name}: SQLSTATE ${sqlstate} ${error instanceof Error ? error.message.slice(0, 100) : ''}`);
      }
    }
    // Some steps succeed on the valid parts of the superset (a charge of 100 with tok_ok): only retries matter here.
    expect(retryable).toEqual([]);
  });
});
