/**
 * Payments: the `PaymentGateway` port, a simulated gateway whose ledger is the `payments` table, the outage switch,
 * and the `chargePayment` / `refundPayment` activities that turn gateway answers into Temporal failures.
 *
 * The ledger makes charges exactly-once per idempotency key: the first stored result wins (a unique index settles
 * concurrent duplicates) and every later call with that key returns it without charging again. Latency is simulated
 * before any database work so no transaction or row lock is ever held across it.
 */
import { createHmac } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';
import type { Config, LatencyRange } from '../lib/config';
import { TABLES } from '../lib/db';
import type { Logger } from '../lib/logger';
import { PAYMENT_STATUS, type PaymentRow, type PaymentStatus } from '../lib/rows';
import { FAILURE_TYPES } from '../workflows/definitions';
import {
  ACTIVITY_FAILURE_TYPES,
  type ChargePaymentInput,
  type ChargePaymentResult,
  type RefundPaymentInput,
  type RefundPaymentResult,
} from './contract';

/** Name of the `gateway_switches` row that simulates a gateway outage. */
export const OUTAGE_SWITCH = 'outage';

/** Test tokens with a fixed outcome (docs/design.md, Payment simulator); any other token is approved at random. */
export const TEST_TOKENS = {
  ok: 'tok_ok',
  decline: 'tok_decline',
  flaky: 'tok_flaky',
  unavailable: 'tok_unavailable',
  slow: 'tok_slow',
} as const;

/** How many attempts of one idempotency key fail transiently with `tok_flaky` before it is approved. */
export const FLAKY_FAILURES = 2;

/** `payments.status` values, declared with the row in lib/rows.ts; the steps import them from here. */
export { PAYMENT_STATUS } from '../lib/rows';

/** A transient gateway failure (timeout, 5xx, outage): the same call may succeed later. */
export class GatewayUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GatewayUnavailableError';
  }
}

/** What the gateway answered to a charge; declines are answers, transient failures are thrown. */
export interface ChargeOutcome {
  /** `refunded` only when replaying a key whose approved charge was refunded since. */
  status: PaymentStatus;
  amountCents: number;
  /** Gateway attempts the stored result took (retries included). */
  attempts: number;
  declineReason?: string;
  /** True when the ledger already held a result for this key and nothing was charged now. */
  replayed: boolean;
}

/** Metadata a charge carries besides the docs/design.md arguments: the ledger row belongs to an order. */
export interface ChargeContext {
  orderId: string;
}

/** A payment gateway: charges are idempotent per key; a refund of an unknown or refunded key is a no-op. */
export interface PaymentGateway {
  /** Charges once per key; throws `GatewayUnavailableError` on a transient failure. */
  charge(idempotencyKey: string, amountCents: number, token: string, context: ChargeContext): Promise<ChargeOutcome>;
  /**
   * Refunds the approved charge of a key; `refunded` is false when there was nothing approved. `within`: the caller's
   * open transaction, which the simulated gateway (its ledger is our `payments` table) writes in, so a caller holding
   * a row lock never waits for a second pool connection (activities/saga-steps.ts `settleLateCapture`).
   */
  refund(idempotencyKey: string, within?: Knex.Transaction): Promise<RefundPaymentResult>;
}

/** Dependencies and knobs of the simulated gateway. */
export interface SimulatedGatewayDeps {
  db: Knex;
  /** Probability that an unknown token is approved (`PAYMENT_SUCCESS_RATE`). */
  successRate: number;
  /** Simulated network latency per call (`PAYMENT_LATENCY_MS`). */
  latencyMs: LatencyRange;
  /** Extra delay of `tok_slow` (`PAYMENT_SLOW_MS`). */
  slowMs: number;
  /** Uniform [0, 1) source for random outcomes and latency; tests inject a fixed sequence. @default Math.random */
  random?: () => number;
  /** Waits for the simulated latency; tests may inject a recorder. @default node:timers/promises setTimeout */
  sleep?: (ms: number) => Promise<void>;
  /** HMAC key of card fingerprints, so a fingerprint cannot be reversed by hashing candidate tokens. */
  fingerprintKey?: string;
  logger?: Logger;
}

/** The simulator settings of a process configuration. */
export function gatewaySettingsFromConfig(
  config: Pick<Config, 'paymentSuccessRate' | 'paymentLatencyMs' | 'paymentSlowMs'>,
): Pick<SimulatedGatewayDeps, 'successRate' | 'latencyMs' | 'slowMs'> {
  return { successRate: config.paymentSuccessRate, latencyMs: config.paymentLatencyMs, slowMs: config.paymentSlowMs };
}

const DEFAULT_FINGERPRINT_KEY = 'orderflow-card-fingerprint-v1';

/** A stable, non-reversible identifier of a payment token: HMAC-SHA256, truncated to 32 hex characters. */
export function cardFingerprint(token: string, key: string = DEFAULT_FINGERPRINT_KEY): string {
  return createHmac('sha256', key).update(token).digest('hex').slice(0, 32);
}

/** Turns a gateway switch on or off (shared by every worker through the database). */
export async function setGatewaySwitch(db: Knex, name: string, enabled: boolean): Promise<void> {
  await db<SwitchRow>(TABLES.gatewaySwitches)
    .insert({ name, enabled, updated_at: db.fn.now() })
    .onConflict('name')
    .merge(['enabled', 'updated_at']);
}

/** Whether a gateway switch is on; a switch never set is off. */
export async function gatewaySwitchEnabled(db: Knex, name: string): Promise<boolean> {
  const row = await db<SwitchRow>(TABLES.gatewaySwitches).where({ name }).first('enabled');
  return row?.enabled === true;
}

/** A `payment_attempts` row. */
interface AttemptRow {
  idempotency_key: string;
  attempts: number;
  created_at: Date;
  updated_at: Date;
}

/** A `gateway_switches` row. */
interface SwitchRow {
  name: string;
  enabled: boolean;
  updated_at: Date;
}

const PAYMENT_COLUMNS = ['amount_cents', 'status', 'attempts', 'decline_reason'] as const;

type StoredPayment = Pick<PaymentRow, (typeof PAYMENT_COLUMNS)[number]>;

function toOutcome(row: StoredPayment, replayed: boolean): ChargeOutcome {
  return {
    status: row.status,
    amountCents: Number(row.amount_cents),
    attempts: row.attempts,
    ...(row.decline_reason === null ? {} : { declineReason: row.decline_reason }),
    replayed,
  };
}

/** Builds the simulated gateway of docs/design.md whose ledger is the `payments` table. */
export function createSimulatedGateway(deps: SimulatedGatewayDeps): PaymentGateway {
  const { db, successRate, latencyMs, slowMs } = deps;
  const random = deps.random ?? Math.random;
  const sleep = deps.sleep ?? ((ms: number) => delay(ms));
  const fingerprintKey = deps.fingerprintKey ?? DEFAULT_FINGERPRINT_KEY;

  const networkLatency = async (): Promise<void> => {
    const span = latencyMs.maxMs - latencyMs.minMs;
    const ms = latencyMs.minMs + (span > 0 ? Math.floor(random() * (span + 1)) : 0);
    if (ms > 0) await sleep(ms);
  };

  const findPayment = (idempotencyKey: string): Promise<StoredPayment | undefined> =>
    db<PaymentRow>(TABLES.payments)
      .where({ idempotency_key: idempotencyKey })
      .first(...PAYMENT_COLUMNS);

  /** Counts this attempt; atomic, so concurrent attempts of one key get distinct numbers. */
  const countAttempt = async (idempotencyKey: string): Promise<number> => {
    const rows = await db<AttemptRow>(TABLES.paymentAttempts)
      .insert({ idempotency_key: idempotencyKey, attempts: 1 })
      .onConflict('idempotency_key')
      .merge({ attempts: db.raw('??.attempts + 1', [TABLES.paymentAttempts]), updated_at: db.fn.now() })
      .returning('attempts');
    return rows[0]?.attempts ?? 1;
  };

  /** The simulated card network's answer for this token on this attempt; throws when it is transient. */
  const decide = async (
    token: string,
    attempt: number,
  ): Promise<{ status: 'approved' } | { status: 'declined'; reason: string }> => {
    switch (token) {
      case TEST_TOKENS.ok:
        return { status: 'approved' };
      case TEST_TOKENS.decline:
        return { status: 'declined', reason: 'card_declined' };
      case TEST_TOKENS.flaky:
        if (attempt <= FLAKY_FAILURES) throw new GatewayUnavailableError(`gateway timeout (attempt ${attempt})`);
        return { status: 'approved' };
      case TEST_TOKENS.unavailable:
        throw new GatewayUnavailableError(`gateway unavailable (attempt ${attempt})`);
      case TEST_TOKENS.slow:
        await sleep(slowMs);
        return { status: 'approved' };
      default:
        return random() < successRate ? { status: 'approved' } : { status: 'declined', reason: 'card_declined' };
    }
  };

  return {
    async charge(idempotencyKey, amountCents, token, { orderId }) {
      if (await gatewaySwitchEnabled(db, OUTAGE_SWITCH)) {
        throw new GatewayUnavailableError('payment gateway outage (switch "outage" is on)');
      }
      await networkLatency();
      const previous = await findPayment(idempotencyKey);
      if (previous !== undefined) return toOutcome(previous, true);

      const attempts = await countAttempt(idempotencyKey);
      const decision = await decide(token, attempts);
      // The unique key decides which of several concurrent duplicates is "the" charge; the others read its result.
      const inserted = await db<PaymentRow>(TABLES.payments)
        .insert({
          idempotency_key: idempotencyKey,
          order_id: orderId,
          amount_cents: amountCents,
          status: decision.status,
          attempts,
          card_fingerprint: cardFingerprint(token, fingerprintKey),
          decline_reason: decision.status === 'declined' ? decision.reason : null,
        })
        .onConflict('idempotency_key')
        .ignore()
        .returning([...PAYMENT_COLUMNS]);
      const row = inserted[0] ?? (await findPayment(idempotencyKey));
      if (row === undefined) throw new Error(`payment ${idempotencyKey} vanished after a conflicting insert`);
      deps.logger?.debug('charge decided', { orderId, status: row.status, attempts, replayed: inserted.length === 0 });
      return toOutcome(row, inserted.length === 0);
    },

    async refund(idempotencyKey, within) {
      await networkLatency();
      // A single conditional UPDATE: concurrent duplicates serialise on the row and only the first sees `approved`.
      const refunded = await (within ?? db)<PaymentRow>(TABLES.payments)
        .where({ idempotency_key: idempotencyKey, status: PAYMENT_STATUS.approved })
        .update({ status: PAYMENT_STATUS.refunded, updated_at: db.fn.now() });
      return { refunded: refunded > 0 };
    },
  };
}

/** Dependencies of the payment activities. */
export interface PaymentActivitiesDeps {
  gateway: PaymentGateway;
  logger: Logger;
}

function invalidInput(message: string): ApplicationFailure {
  return ApplicationFailure.create({ message, type: ACTIVITY_FAILURE_TYPES.invalidInput, nonRetryable: true });
}

function validateKey(idempotencyKey: string): void {
  if (typeof idempotencyKey !== 'string' || idempotencyKey.length === 0 || idempotencyKey.length > 255) {
    throw invalidInput('the payment idempotency key must be 1 to 255 characters');
  }
}

/** Builds `chargePayment` and `refundPayment` on a gateway. */
export function createPaymentActivities({ gateway, logger }: PaymentActivitiesDeps) {
  /**
   * Charges once per idempotency key. A decline is final (non-retryable `PaymentDeclined`); a transient gateway error
   * is a retryable `PaymentGatewayUnavailable`, so the workflow's retry policy decides when to give up.
   */
  async function chargePayment(input: ChargePaymentInput): Promise<ChargePaymentResult> {
    validateKey(input.idempotencyKey);
    if (!Number.isSafeInteger(input.amountCents) || input.amountCents <= 0) {
      throw invalidInput('the amount must be a positive integer number of cents');
    }
    let outcome: ChargeOutcome;
    try {
      outcome = await gateway.charge(input.idempotencyKey, input.amountCents, input.paymentToken, {
        orderId: input.orderId,
      });
    } catch (error) {
      if (error instanceof GatewayUnavailableError) {
        logger.warn('payment gateway unavailable', { orderId: input.orderId, error: error.message });
        throw ApplicationFailure.create({
          message: error.message,
          type: FAILURE_TYPES.paymentUnavailable,
          nonRetryable: false,
        });
      }
      throw error;
    }
    if (outcome.status === 'approved') {
      return { status: 'approved', amountCents: outcome.amountCents, attempts: outcome.attempts };
    }
    // A refunded key can only be met by a stale duplicate of a charge whose order was already compensated: treat
    // it as final so nothing ever proceeds to COMPLETED on money that was given back.
    const reason = outcome.status === 'refunded' ? 'already_refunded' : (outcome.declineReason ?? 'declined');
    throw ApplicationFailure.create({
      message: `payment declined: ${reason}`,
      type: FAILURE_TYPES.paymentDeclined,
      nonRetryable: true,
      details: [{ reason, attempts: outcome.attempts }],
    });
  }

  /** Refunds a charge (compensation); refunding an unknown or already-refunded key is a successful no-op. */
  async function refundPayment({ idempotencyKey }: RefundPaymentInput): Promise<RefundPaymentResult> {
    validateKey(idempotencyKey);
    const result = await gateway.refund(idempotencyKey);
    if (result.refunded) logger.info('payment refunded', { idempotencyKey });
    return result;
  }

  return { chargePayment, refundPayment };
}
