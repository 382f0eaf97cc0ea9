import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';
import type { ChargePaymentInput } from '../../activities/contract';
import {
  cardFingerprint,
  createPaymentActivities,
  createSimulatedGateway,
  gatewaySettingsFromConfig,
  gatewaySwitchEnabled,
  OUTAGE_SWITCH,
  setGatewaySwitch,
  type SimulatedGatewayDeps,
} from '../../activities/payments';
import { TABLES } from '../../lib/db';
import { createLogger } from '../../lib/logger';
import { FAILURE_TYPES } from '../../workflows/definitions';
import { testConfig, testDb } from '../support/services';

const root = path.resolve(__dirname, '..', '..');
const declined = { type: FAILURE_TYPES.paymentDeclined, nonRetryable: true };
const unavailable = { type: FAILURE_TYPES.paymentUnavailable, nonRetryable: false };

describe('payments on real PostgreSQL', () => {
  const config = testConfig({ PAYMENT_SLOW_MS: '300' });
  let db: Knex;

  beforeAll(() => {
    db = testDb(config, 20);
  });
  afterAll(async () => {
    await setGatewaySwitch(db, OUTAGE_SWITCH, false);
    await db.destroy();
  });

  function activities(overrides: Partial<SimulatedGatewayDeps> = {}) {
    const gateway = createSimulatedGateway({ db, ...gatewaySettingsFromConfig(config), ...overrides });
    return createPaymentActivities({ gateway, logger: createLogger('test', 'silent') });
  }

  function charge(token: string, amountCents = 1234, idempotencyKey = `pay-${randomUUID()}`): ChargePaymentInput {
    return { orderId: randomUUID(), idempotencyKey, amountCents, paymentToken: token };
  }

  async function ledger(idempotencyKey: string) {
    return db('payments')
      .where({ idempotency_key: idempotencyKey })
      .select('amount_cents', 'status', 'attempts', 'card_fingerprint', 'decline_reason');
  }

  async function failureOf(promise: Promise<unknown>): Promise<unknown> {
    return promise.then(
      () => undefined,
      (error: unknown) => error,
    );
  }

  it('when the token is tok_ok, then the charge is approved and the ledger holds one approved row with a fingerprint', async () => {
    const input = charge('tok_ok', 4200);

    expect(await activities().chargePayment(input)).toEqual({ status: 'approved', amountCents: 4200, attempts: 1 });

    expect(await ledger(input.idempotencyKey)).toEqual([
      {
        amount_cents: '4200',
        status: 'approved',
        attempts: 1,
        card_fingerprint: cardFingerprint('tok_ok'),
        decline_reason: null,
      },
    ]);
  });

  it('when the token is tok_decline, then the charge fails without retry and the decline is recorded once', async () => {
    const input = charge('tok_decline');
    const { chargePayment } = activities();

    const first = await failureOf(chargePayment(input));
    const second = await failureOf(chargePayment(input));

    expect(first).toBeInstanceOf(ApplicationFailure);
    expect(first).toMatchObject(declined);
    expect(second).toMatchObject(declined);
    expect(await ledger(input.idempotencyKey)).toEqual([
      expect.objectContaining({ status: 'declined', decline_reason: 'card_declined', attempts: 1 }),
    ]);
  });

  it('when the token is tok_flaky, then the first two attempts fail transiently and the third is approved', async () => {
    const input = charge('tok_flaky', 999);
    const { chargePayment } = activities();

    expect(await failureOf(chargePayment(input))).toMatchObject(unavailable);
    expect(await ledger(input.idempotencyKey)).toEqual([]);
    expect(await failureOf(chargePayment(input))).toMatchObject(unavailable);
    expect(await chargePayment(input)).toEqual({ status: 'approved', amountCents: 999, attempts: 3 });
    // A fourth call is a replay: same answer, no new attempt on the ledger row.
    expect(await chargePayment(input)).toEqual({ status: 'approved', amountCents: 999, attempts: 3 });

    expect(await ledger(input.idempotencyKey)).toEqual([expect.objectContaining({ status: 'approved', attempts: 3 })]);
  });

  it('when the token is tok_unavailable, then every attempt fails transiently and nothing is charged', async () => {
    const input = charge('tok_unavailable');
    const { chargePayment } = activities();

    for (let attempt = 1; attempt <= 5; attempt += 1) {
      expect(await failureOf(chargePayment(input))).toMatchObject(unavailable);
    }

    expect(await ledger(input.idempotencyKey)).toEqual([]);
    const counted = await db(TABLES.paymentAttempts).where({ idempotency_key: input.idempotencyKey }).first();
    expect(counted).toMatchObject({ attempts: 5 });
  });

  it('when the token is tok_slow, then the charge is approved after PAYMENT_SLOW_MS', async () => {
    const slept: number[] = [];
    const { chargePayment } = activities({
      sleep: (ms) => {
        slept.push(ms);
        return new Promise((resolve) => setTimeout(resolve, ms));
      },
    });
    const started = Date.now();

    expect(await chargePayment(charge('tok_slow'))).toMatchObject({ status: 'approved' });

    expect(slept).toEqual([300]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });

  it.each([
    [0.79, 'below', 'approved'],
    [0.8, 'not below', 'declined'],
  ])(
    'when another token draws %f, %s PAYMENT_SUCCESS_RATE, then the charge is %s',
    async (draw, _relation, expected) => {
      const input = charge('tok_visa_4242');
      const { chargePayment } = activities({ successRate: 0.8, random: () => draw });

      const failure = await failureOf(chargePayment(input));

      if (expected === 'approved') expect(failure).toBeUndefined();
      else expect(failure).toMatchObject(declined);
      expect(await ledger(input.idempotencyKey)).toEqual([expect.objectContaining({ status: expected })]);
    },
  );

  it('when a charge is repeated with the same key, then the first result is returned and nothing is charged again', async () => {
    const input = charge('tok_ok', 500);
    const gateway = createSimulatedGateway({ db, ...gatewaySettingsFromConfig(config) });

    const first = await gateway.charge(input.idempotencyKey, 500, 'tok_ok', { orderId: input.orderId });
    const again = await gateway.charge(input.idempotencyKey, 500, 'tok_decline', { orderId: input.orderId });

    expect(first).toEqual({ status: 'approved', amountCents: 500, attempts: 1, replayed: false });
    expect(again).toEqual({ ...first, replayed: true });
    expect(await ledger(input.idempotencyKey)).toHaveLength(1);
  });

  it('when 20 duplicates of one charge race with different random draws, then all get the same result from one row', async () => {
    const input = charge('tok_random_card', 777);
    let draws = 0;
    // Alternating draws: each racer, left alone, would decide differently; the ledger must make them agree.
    const { chargePayment } = activities({
      successRate: 0.5,
      latencyMs: { minMs: 0, maxMs: 20 },
      random: () => (draws++ % 2 === 0 ? 0.1 : 0.9),
    });

    const settled = await Promise.allSettled(Array.from({ length: 20 }, () => chargePayment(input)));

    const outcomes = settled.map((s) =>
      s.status === 'fulfilled' ? s.value.status : (s.reason as ApplicationFailure).type,
    );
    expect(new Set(outcomes).size).toBe(1);
    expect(await ledger(input.idempotencyKey)).toHaveLength(1);
  });

  it('when a refund runs twice, then the payment is refunded once; unknown and declined keys are no-ops', async () => {
    const { chargePayment, refundPayment } = activities();
    const approved = charge('tok_ok');
    const refused = charge('tok_decline');
    await chargePayment(approved);
    await failureOf(chargePayment(refused));

    expect(await refundPayment({ idempotencyKey: approved.idempotencyKey })).toEqual({ refunded: true });
    expect(await refundPayment({ idempotencyKey: approved.idempotencyKey })).toEqual({ refunded: false });
    expect(await refundPayment({ idempotencyKey: refused.idempotencyKey })).toEqual({ refunded: false });
    expect(await refundPayment({ idempotencyKey: `pay-${randomUUID()}` })).toEqual({ refunded: false });

    expect(await ledger(approved.idempotencyKey)).toEqual([expect.objectContaining({ status: 'refunded' })]);
    expect(await ledger(refused.idempotencyKey)).toEqual([expect.objectContaining({ status: 'declined' })]);
  });

  it('when refunds of one payment race, then exactly one refunds and a later charge with the key is final', async () => {
    const { chargePayment, refundPayment } = activities();
    const input = charge('tok_ok');
    await chargePayment(input);

    const results = await Promise.all(
      Array.from({ length: 6 }, () => refundPayment({ idempotencyKey: input.idempotencyKey })),
    );

    expect(results.filter((r) => r.refunded)).toHaveLength(1);
    // A stale duplicate of the charge must not report money the order no longer holds.
    expect(await failureOf(chargePayment(input))).toMatchObject(declined);
    expect(await ledger(input.idempotencyKey)).toEqual([expect.objectContaining({ status: 'refunded' })]);
  });

  it('when the outage switch is on, then every charge fails transiently; when off again, then charges go through', async () => {
    const { chargePayment } = activities();
    const input = charge('tok_ok');
    try {
      await setGatewaySwitch(db, OUTAGE_SWITCH, true);
      expect(await gatewaySwitchEnabled(db, OUTAGE_SWITCH)).toBe(true);
      expect(await failureOf(chargePayment(input))).toMatchObject(unavailable);
      expect(await failureOf(chargePayment(charge('tok_decline')))).toMatchObject(unavailable);
      expect(await ledger(input.idempotencyKey)).toEqual([]);
    } finally {
      await setGatewaySwitch(db, OUTAGE_SWITCH, false);
    }

    expect(await gatewaySwitchEnabled(db, OUTAGE_SWITCH)).toBe(false);
    expect(await chargePayment(input)).toMatchObject({ status: 'approved' });
  });

  it('when `npm run gateway -- outage on|off` runs, then the switch flips and bad arguments get a usage error', async () => {
    const env = { ...process.env, DATABASE_URL: config.databaseUrl, NODE_ENV: 'test' };
    const gateway = (...args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = execFile(process.execPath, ['--import', 'tsx', 'scripts/gateway.ts', ...args], {
          cwd: root,
          env,
        });
        let stdout = '';
        let stderr = '';
        child.stdout?.on('data', (chunk: string) => (stdout += chunk));
        child.stderr?.on('data', (chunk: string) => (stderr += chunk));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    try {
      expect(await gateway('outage', 'on')).toMatchObject({
        code: 0,
        stdout: 'payment gateway outage: on (every charge fails transiently)\n',
      });
      expect(await gatewaySwitchEnabled(db, OUTAGE_SWITCH)).toBe(true);
      const [off, bad] = await Promise.all([gateway('outage', 'off'), gateway('outage', 'maybe')]);
      expect(off).toMatchObject({ code: 0, stdout: 'payment gateway outage: off\n' });
      expect(await gatewaySwitchEnabled(db, OUTAGE_SWITCH)).toBe(false);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('usage: npm run gateway -- outage on|off|status');
    } finally {
      await setGatewaySwitch(db, OUTAGE_SWITCH, false);
    }
  });

  it('when charges are made with a card token, then the raw token is stored nowhere', async () => {
    const token = `tok_card_${randomUUID().replace(/-/g, '')}`;
    const { chargePayment } = activities({ random: () => 0 });
    const input = charge(token);

    await chargePayment(input);
    await chargePayment(input);

    const stored = await db.raw<{ rows: { row: string }[] }>(
      `SELECT row_to_json(p)::text AS row FROM payments p WHERE idempotency_key = ?
       UNION ALL SELECT row_to_json(a)::text FROM ${TABLES.paymentAttempts} a WHERE idempotency_key = ?`,
      [input.idempotencyKey, input.idempotencyKey],
    );
    expect(stored.rows).toHaveLength(2);
    for (const { row } of stored.rows) expect(row).not.toContain(token);
    const [payment] = await ledger(input.idempotencyKey);
    expect(payment?.card_fingerprint).toMatch(/^[0-9a-f]{32}$/);
    expect(payment?.card_fingerprint).toBe(cardFingerprint(token));
  });
});
