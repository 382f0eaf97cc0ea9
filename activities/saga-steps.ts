/**
 * The lean saga's steps (docs/saga.md): each step is one activity that does its database work AND records the
 * statuses it reaches, so a happy order costs one activity task and two workflow tasks:
 *
 *   placeOrder (local, first workflow task)  order row + PENDING + stock held + RESERVED, one transaction
 *   chargeOrder                              CHARGING (one transaction), gateway call, PAID + stock committed +
 *                                            COMPLETED (one transaction; PAID alone if a cancel was marked meanwhile)
 *   completeOrder                            stock committed + COMPLETED, one transaction (zero totals, and lean
 *                                            orders started before `commit-with-charge`)
 *   compensateOrder (off the happy path)     stock released, every approved payment refunded, CANCELLED / FAILED
 *
 * Each transaction is one call of a PL/pgSQL function (migration 20261130120000): one round trip each.
 *
 * Every status goes through `orderflow_append_event` (migration 20261130000000): under the order row lock it finds
 * the event by its key (a retry writes nothing) or appends it with seq = the order's newest seq + 1 and makes it the
 * order's status. So the row and its newest event always agree, and a Reset run's statuses (keyed by its own run id)
 * always land above everything recorded before. Every step reconciles with the durable state rather than trusting the
 * workflow's memory of it: a Reset run may replay a history whose effects were since undone.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal as proto } from '@temporalio/proto';
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import { markOrderCancelRequested, TABLES } from '../lib/db';
import { requestHashOf } from '../lib/order-lines';
import type { OrderRow } from '../lib/rows';
import { publishOrderEvent } from '../lib/events';
import { createStockPublisher, type StockChange } from '../lib/stock-events';
import type { Logger } from '../lib/logger';
import {
  FAILURE_TYPES,
  isTerminal,
  workflowIdFor,
  type OrderLine,
  type OrderStatus,
  type OrderWorkflowResult,
  type ReservationOutcome,
  type StatusEvent,
} from '../workflows/definitions';
import {
  ACTIVITY_FAILURE_TYPES,
  orderConflictFailure,
  orderNotRecordedFailure,
  requestHashMismatchFailure,
  type ChargeOrderInput,
  type ChargeOrderResult,
  type CompensateOrderInput,
  type CompensateOrderResult,
  type CompleteOrderResult,
  type ConfirmTerminalInput,
  type ConfirmTerminalResult,
  type PlaceOrderInput,
  type PlaceOrderResult,
  type RecordTransitionInput,
  type StepInput,
} from './contract';
import {
  clearReleasedReservation,
  releaseInTransaction,
  reservationStatusCounts,
  reserveInTransaction,
  storedReservation,
  validatedLines,
  type ReserveResult,
  type StockAfter,
} from './inventory';
import { GatewayUnavailableError, PAYMENT_STATUS, type PaymentGateway } from './payments';
import { activityRun, currentAttempt, runningRun } from './attempt';

/** Dependencies of the saga steps. */
export interface SagaStepDeps {
  db: Knex;
  redis: Redis;
  redisKeyPrefix: string;
  gateway: PaymentGateway;
  logger: Logger;
  /**
   * Describes the order's run before a charge starts (`awaitWorkflowTask`).
   * @default none: a charge does not wait for signals its workflow has not taken yet
   */
  temporal?: Client;
  /** Longest wait of `awaitWorkflowTask`, in ms. @default WORKFLOW_TASK_WAIT_MS */
  workflowTaskWaitMs?: number;
}

/**
 * How long a charge waits at most, in ms, for its workflow to take the signals and cancel requests Temporal already
 * holds for it (`awaitWorkflowTask`); past it the charge goes on and the cancel mark decides, as for a later cancel.
 * Never more than a third of the charge attempt's start-to-close timeout, so the gateway call keeps the rest.
 */
export const WORKFLOW_TASK_WAIT_MS = 3_000;
/** What `awaitWorkflowTask` logs when a charge starts waiting, and when it stops waiting with the task still pending. */
export const WAIT_STARTED = 'charge waits for its workflow to take what Temporal holds for it';
export const WAIT_GIVEN_UP = 'charge goes on: its workflow task is still pending';

/** First pause between two describe calls of `awaitWorkflowTask`, in ms (doubling to 200). */
const FIRST_POLL_MS = 10;
/** Deadline of one describe call, in ms. */
const DESCRIBE_DEADLINE_MS = 2_000;

/** The columns of `orders` the steps read. */
type OrderLockRow = Pick<OrderRow, 'id' | 'customer_id' | 'cancel_requested_run_id' | 'status' | 'request_hash'>;

/** A reservation line `releaseInTransaction` returned to stock. */
type ReleasedLine = Awaited<ReturnType<typeof releaseInTransaction>>[number];

/** A row of `orderflow_append_event(...)`. */
interface AppendedEvent {
  seq: number;
  status: OrderStatus;
  detail: Record<string, unknown>;
  created_at: Date;
  customer_id: string;
  inserted: boolean;
}

/** What one recording asks for. */
interface Recording {
  status: OrderStatus;
  detail?: Record<string, unknown>;
  totalCents?: number;
  failureReason?: string;
}

/** What a placement recorded and decided, before anything is published. */
interface Placement {
  rows: AppendedEvent[];
  reservation: ReservationOutcome;
  status: PlaceOrderResult['status'];
  /** Each reserved product's stock after the reservation, when this placement took stock (not when it reused it). */
  stocks?: StockAfter[];
}

/** The stock movements a placement made (none when it reused or refused), each with the stock it left. */
function reserveMovements({ reservation, stocks }: Placement): StockChange[] {
  if (stocks === undefined || reservation.status !== 'RESERVED') return [];
  const after = new Map(stocks.map((stock) => [stock.productId, stock]));
  return reservation.lines.map((line) => ({
    productId: line.productId,
    kind: 'reserve',
    quantity: -line.quantity,
    ...(after.has(line.productId) ? { after: after.get(line.productId) } : {}),
  }));
}

/** SQLSTATE `no_data_found`, raised by `orderflow_append_event` for an unknown order. */
const NO_DATA_FOUND = 'P0002';

/**
 * SQLSTATE raised when a step would move a closed order (terminal status) to CHARGING, PAID or NEEDS_ATTENTION
 * (migration 20261130130000): another run or the reconciler closed it; a closed order stays closed.
 */
const ORDER_CLOSED = 'OF003';

/** True for the error a step gets when the order it would move is closed (ORDER_CLOSED). */
const isOrderClosed = (error: unknown): boolean => (error as { code?: unknown }).code === ORDER_CLOSED;

/**
 * The order's status when it is terminal (another run or the reconciler closed it), else undefined: what a run that
 * meets the order closed (OF003) ends with, recording nothing itself.
 */
async function closedStatus(db: Knex, orderId: string): Promise<OrderWorkflowResult['status'] | undefined> {
  return asClosed((await db<OrderLockRow>(TABLES.orders).where({ id: orderId }).first('status'))?.status);
}

/** `status` when it is terminal, else undefined. */
function asClosed(status: OrderStatus | undefined): OrderWorkflowResult['status'] | undefined {
  return status !== undefined && isTerminal(status) ? (status as OrderWorkflowResult['status']) : undefined;
}

/** SQLSTATE raised by `orderflow_complete_order` when the order holds no stock (migration 20261130120000). */
const NO_STOCK_TO_COMMIT = 'OF002';

/** The first charge of an order uses `payment-<orderId>`; after n settled (refunded/declined) charges, `...-<n+1>`. */
export function chargeIdempotencyKey(orderId: string, settledCharges: number): string {
  return settledCharges === 0 ? `payment-${orderId}` : `payment-${orderId}-${settledCharges + 1}`;
}

function toStatusEvent(row: AppendedEvent): StatusEvent {
  return { seq: row.seq, status: row.status, at: row.created_at.toISOString(), detail: row.detail };
}

/** Builds the lean saga's activities. */
export function createSagaSteps({
  db,
  redis,
  redisKeyPrefix,
  gateway,
  logger,
  temporal,
  workflowTaskWaitMs = WORKFLOW_TASK_WAIT_MS,
}: SagaStepDeps) {
  const publishStock = createStockPublisher({ db, redis, redisKeyPrefix, logger });

  /**
   * Waits while the order's run has a workflow task pending (DescribeWorkflowExecution, polled every 10-200 ms, at
   * most `workflowTaskWaitMs` and a third of this attempt's start-to-close timeout, describe calls included): Temporal
   * holds a signal or cancel request the workflow has not processed yet. The workflow marks a cancel on the order row
   * inside that task (`markCancelRequested`), so once no task is pending the charge's start transaction sees the mark
   * of every cancel that reached Temporal before the charge started, whatever sent it (POST /orders/:id/cancel, a
   * `cancel` signal from the CLI, "Cancel" in the Web UI). In the happy path nothing is pending and this is one
   * describe call. It does not wait on a task that already failed once (attempt > 1: a task that keeps failing, or
   * one lost with a crashed worker, does not clear soon), and describing failing (Temporal unreachable) never fails
   * the charge: it goes on without waiting.
   */
  async function awaitWorkflowTask(orderId: string, runId: string): Promise<void> {
    if (temporal === undefined) return;
    const request = { namespace: temporal.options.namespace, execution: { workflowId: workflowIdFor(orderId), runId } };
    const startedAt = Date.now();
    const deadline = startedAt + Math.min(workflowTaskWaitMs, currentAttempt().startToCloseMs / 3);
    for (let pollMs = FIRST_POLL_MS; ; pollMs = Math.min(pollMs * 2, 200)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        logger.warn(WAIT_GIVEN_UP, { orderId, waitedMs: Date.now() - startedAt });
        return;
      }
      let pending: boolean;
      try {
        const described = await temporal.connection.withDeadline(
          Date.now() + Math.min(DESCRIBE_DEADLINE_MS, left),
          () => temporal.workflowService.describeWorkflowExecution(request),
        );
        const running =
          described.workflowExecutionInfo?.status ===
          proto.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING;
        const task = described.pendingWorkflowTask;
        pending = running && task != null && (task.attempt ?? 1) <= 1;
      } catch (error) {
        logger.warn('charge goes on without describing its workflow', { orderId, error: String(error) });
        return;
      }
      if (!pending) return;
      if (pollMs === FIRST_POLL_MS) logger.info(WAIT_STARTED, { orderId });
      await sleep(Math.min(pollMs, Math.max(deadline - Date.now(), 0)));
    }
  }

  /**
   * The idempotency key of this charge round: `chargeIdempotencyKey` of the settled charges the round's CHARGING
   * transaction counted. A retried attempt (activity attempt > 1) first reuses the key of a payment the round already
   * made (one created after its CHARGING event): an attempt lost after the gateway declined (worker killed, database
   * session cut) would otherwise count that decline as settled and charge again under a new key, where the gateway
   * must answer the stored decline.
   */
  async function roundKey(orderId: string, charging: AppendedEvent & { settled_charges: number }): Promise<string> {
    if (currentAttempt().attempt > 1) {
      const made = await db(TABLES.payments)
        .where({ order_id: orderId })
        .andWhere('created_at', '>=', charging.created_at)
        .orderBy('id')
        .first<{ idempotency_key: string } | undefined>('idempotency_key');
      if (made !== undefined) return made.idempotency_key;
    }
    return chargeIdempotencyKey(orderId, charging.settled_charges);
  }

  /**
   * Runs one of the steps' SQL functions (one round trip; in `executor`'s transaction, else its own) and returns its
   * rows; an unknown order is a non-retryable `OrderNotRecorded`.
   */
  async function callStep<Row>(
    sql: string,
    bindings: readonly Knex.RawBinding[],
    orderId: string,
    executor: Knex | Knex.Transaction = db,
  ): Promise<Row[]> {
    try {
      return (await executor.raw<{ rows: Row[] }>(sql, bindings)).rows;
    } catch (error) {
      if ((error as { code?: unknown }).code === NO_DATA_FOUND) throw orderNotRecordedFailure(orderId);
      throw error;
    }
  }

  /** Records one status in the caller's transaction (see the file comment); a repeat returns the stored event. */
  async function append(
    trx: Knex | Knex.Transaction,
    { orderId, eventKeyPrefix }: StepInput,
    recording: Recording,
  ): Promise<AppendedEvent> {
    const [row] = await callStep<AppendedEvent>(
      'SELECT * FROM orderflow_append_event(?::uuid, ?, ?, ?::jsonb, ?::bigint, ?)',
      [
        orderId,
        `${eventKeyPrefix}/${recording.status}`,
        recording.status,
        JSON.stringify(recording.detail ?? {}),
        recording.totalCents ?? null,
        recording.failureReason ?? null,
      ],
      orderId,
      trx,
    );
    if (row === undefined) throw new Error(`orderflow_append_event returned nothing for order ${orderId}`);
    return row;
  }

  /**
   * Publishes committed events to the realtime stream, in seq order (at least once: a retry publishes again), in one
   * Redis round trip: ioredis sends commands in call order on one connection, so the XADDs keep the seq order.
   */
  async function publish(orderId: string, rows: AppendedEvent[]): Promise<void> {
    await Promise.all(
      rows.map((row) =>
        publishOrderEvent(redis, redisKeyPrefix, {
          orderId,
          customerId: row.customer_id,
          seq: row.seq,
          status: row.status,
          at: row.created_at.toISOString(),
          detail: row.detail,
        }),
      ),
    );
  }

  /**
   * Creates the order (PENDING) and holds its stock (RESERVED) or refuses it (REJECTED), in one transaction. On an
   * existing order (a retry, or a Reset run) it reconciles: committed stock means the order is COMPLETED (recorded
   * again, nothing else done); held stock is reused; released stock is reserved again at the prices first reserved.
   * Fails non-retryably when another order holds the id or the (customer, idempotency key).
   */
  async function placeOrder(input: PlaceOrderInput): Promise<PlaceOrderResult> {
    const lines = validatedLines(input.lines);
    const { orderId } = input;
    // The stored hash stands for the lines and token the customer asked for: a run whose own lines or token are
    // not what its hash says (started by hand with a copied hash) must not place, nor reopen, anything.
    if (
      typeof input.paymentToken !== 'string' ||
      requestHashOf({ lines, paymentToken: input.paymentToken }) !== input.requestHash
    ) {
      throw requestHashMismatchFailure(orderId);
    }
    const placed = (await placeNewOrder(input, lines)) ?? (await reconcilePlacement(input, lines));
    const { rows, reservation, status } = placed;
    // The admin channel's live stock (product.stock, product.low_stock) with the order's events: after commit, one
    // Redis round trip; the stock publisher never fails the step.
    await Promise.all([publish(orderId, rows), publishStock(reserveMovements(placed))]);
    logger.debug('order placed', { orderId, status });
    return { reservation, status, events: rows.map(toStatusEvent) };
  }

  /**
   * The first placement of an order, in one round trip (`orderflow_place_order`, migration 20261130120000): order
   * row, PENDING, the reservation and RESERVED or REJECTED in one transaction. Undefined when the order row already
   * exists (a retry, or a Reset run), which `reconcilePlacement` handles.
   */
  async function placeNewOrder(input: PlaceOrderInput, lines: OrderLine[]): Promise<Placement | undefined> {
    const result = await db.raw<{ rows: (AppendedEvent & { outcome: ReserveResult | null })[] }>(
      'SELECT * FROM orderflow_place_order(?::uuid, ?, ?, ?, ?, ?, ?, ?::jsonb, ?::text[], ?::integer[])',
      [
        input.orderId,
        input.customerId,
        input.currency,
        input.idempotencyKey ?? null,
        input.requestHash,
        input.workflowId,
        input.eventKeyPrefix,
        JSON.stringify({ lines: input.lines }),
        lines.map((line) => line.sku),
        lines.map((line) => line.quantity),
      ],
    );
    const reserved = result.rows.at(-1)?.outcome;
    if (reserved === undefined || reserved === null) return undefined;
    const { outcome: reservation, stocks } = reserved;
    return {
      rows: result.rows.slice(0, -1),
      reservation,
      status: reservation.status,
      ...(stocks !== undefined ? { stocks } : {}),
    };
  }

  /**
   * Placement of an order whose row exists (a retry, or a Reset run): reconciles with what is stored. Committed
   * stock means the order is COMPLETED (recorded again, nothing else done); held stock is reused; released stock is
   * reserved again at the prices first reserved. Fails non-retryably (`OrderConflict`, nothing changed) when the
   * stored order is another request's: another customer's, or another request hash (other lines or payment token: a
   * run started by hand with the id of an existing order), so a placement never rewrites or reopens someone's order.
   */
  async function reconcilePlacement(input: PlaceOrderInput, lines: OrderLine[]): Promise<Placement> {
    const { orderId } = input;
    return db.transaction(async (trx): Promise<Placement> => {
      const existing = await trx<OrderLockRow>(TABLES.orders)
        .where({ id: orderId })
        .forNoKeyUpdate()
        .first('customer_id', 'request_hash');
      if (
        existing === undefined ||
        existing.customer_id !== input.customerId ||
        existing.request_hash !== input.requestHash
      ) {
        throw orderConflictFailure(orderId);
      }
      const counts = await reservationStatusCounts(trx, orderId);
      if (counts.committed > 0) {
        // A Reset run of a completed order: the stock is committed and the money captured; nothing to redo.
        const reservation = await storedReservation(trx, orderId, lines);
        if (reservation === undefined) throw new Error(`order ${orderId}: committed lines vanished`);
        const completed = await append(trx, input, { status: 'COMPLETED', detail: { reset: true } });
        return { rows: [completed], reservation, status: 'COMPLETED' };
      }
      const held = counts.held > 0 ? await storedReservation(trx, orderId, lines) : undefined;
      const { outcome: reservation, stocks } =
        held !== undefined
          ? { outcome: held, stocks: undefined }
          : await reserveInTransaction(
              trx,
              orderId,
              lines,
              counts.released > 0 ? await clearReleasedReservation(trx, orderId) : undefined,
            );
      const recorded =
        reservation.status === 'REJECTED'
          ? await append(trx, input, {
              status: 'REJECTED',
              detail: { ...reservation },
              failureReason: reservation.reason,
            })
          : await append(trx, input, {
              status: 'RESERVED',
              detail: { totalCents: reservation.totalCents, lines: reservation.lines },
              totalCents: reservation.totalCents,
            });
      return { rows: [recorded], reservation, status: reservation.status, ...(stocks !== undefined ? { stocks } : {}) };
    });
  }

  /**
   * One charge round: unless a cancel is marked on the order for this run or the order is closed (then nothing is
   * charged; a capture on an order closed while the gateway ran is refunded at once), records
   * CHARGING and charges under the order's current idempotency key — `payment-<orderId>`, or a new one once earlier
   * charges were refunded or declined (a Reset run charging again) — then records PAID. With `complete`, PAID's
   * transaction also commits the held stock and records COMPLETED, unless a cancel was marked for this run while the
   * charge ran (the workflow then refunds). A decline is a result; a transient gateway failure is a retryable
   * `PaymentGatewayUnavailable`, so the workflow's retry budget decides when to give up.
   */
  async function chargeOrder(carried: ChargeOrderInput): Promise<ChargeOrderResult> {
    const input = { ...carried, ...runningRun(carried) };
    const { orderId } = input;
    if (!Number.isSafeInteger(input.amountCents) || input.amountCents <= 0) {
      throw ApplicationFailure.create({
        message: 'the amount must be a positive integer number of cents',
        type: ACTIVITY_FAILURE_TYPES.invalidInput,
        nonRetryable: true,
      });
    }
    await awaitWorkflowTask(orderId, input.runId);
    // One round trip (`orderflow_start_charge`): under the order row lock, the cancel mark of this run, the count
    // of settled charges (which picks the idempotency key) and CHARGING.
    let started: (AppendedEvent & { settled_charges: number }) | undefined;
    try {
      [started] = await callStep<AppendedEvent & { settled_charges: number }>(
        'SELECT * FROM orderflow_start_charge(?::uuid, ?, ?, ?::jsonb, ?::text[])',
        [
          orderId,
          input.runId,
          `${input.eventKeyPrefix}/CHARGING`,
          JSON.stringify({ attempt: input.round }),
          [PAYMENT_STATUS.refunded, PAYMENT_STATUS.declined],
        ],
        orderId,
      );
    } catch (error) {
      if (!isOrderClosed(error)) throw error;
      const closedAs = await closedStatus(db, orderId);
      logger.warn('charge skipped: the order is closed', { orderId, closedAs });
      return { status: 'cancelled', events: [], ...(closedAs !== undefined ? { closedAs } : {}) };
    }
    if (started === undefined) {
      logger.info('charge skipped: cancel requested before it started', { orderId });
      return { status: 'cancelled', events: [] };
    }
    const charging = started;
    const idempotencyKey = await roundKey(orderId, started);
    await publish(orderId, [charging]);
    const events = [toStatusEvent(charging)];

    let outcome;
    try {
      outcome = await gateway.charge(idempotencyKey, input.amountCents, input.paymentToken, { orderId });
    } catch (error) {
      if (!(error instanceof GatewayUnavailableError)) throw error;
      logger.warn('payment gateway unavailable', { orderId, error: error.message });
      throw ApplicationFailure.create({ message: error.message, type: FAILURE_TYPES.paymentUnavailable });
    }
    if (outcome.status !== 'approved') {
      // A refunded key can only be met when its charge was given back while this round ran: never proceed on it.
      const reason = outcome.status === 'refunded' ? 'already_refunded' : (outcome.declineReason ?? 'declined');
      return { status: 'declined', idempotencyKey, reason, events };
    }
    // PAID, and with `complete` (unless a cancel is marked for this run) the stock committed and COMPLETED, in one
    // transaction and one round trip (`orderflow_record_paid`).
    let recorded: AppendedEvent[];
    try {
      recorded = await callStep<AppendedEvent>(
        'SELECT * FROM orderflow_record_paid(?::uuid, ?, ?, ?::jsonb, ?)',
        [
          orderId,
          input.runId,
          `${input.eventKeyPrefix}/PAID`,
          JSON.stringify({ amountCents: outcome.amountCents }),
          input.complete === true ? `${input.eventKeyPrefix}/COMPLETED` : null,
        ],
        orderId,
      );
    } catch (error) {
      if (!isOrderClosed(error)) throw error;
      // Another run (a Reset's, or the reconciler) closed the order while the gateway charged. A capture on an order
      // closed without it is refunded; but when that run COMPLETED the order under this same key (one key, one
      // capture: both runs counted the same settled charges), this capture is the one its committed stock was sold
      // for, and refunding it would hand the goods out for free.
      const { kept, closedAs } = await settleLateCapture(orderId, idempotencyKey);
      logger.warn(
        kept
          ? 'charge kept: another run completed the order with this capture'
          : 'charge refunded: the order was closed while it ran',
        { orderId, closedAs },
      );
      return { status: 'cancelled', events, ...(closedAs !== undefined ? { closedAs } : {}) };
    }
    await publish(orderId, recorded);
    events.push(...recorded.map(toStatusEvent));
    const completed = recorded.some((row) => row.status === 'COMPLETED');
    return { status: 'approved', idempotencyKey, amountCents: outcome.amountCents, completed, events };
  }

  /**
   * Keeps or refunds a capture that met its order closed (OF003), deciding and refunding under the order row lock:
   * every step that could reopen the order or choose a charge's idempotency key (a Reset run's placement,
   * `orderflow_start_charge`) takes that lock, so none reads the capture as approved while it is being given back —
   * otherwise a Reset run reopening the order in between would charge the same key, meet this capture and complete
   * the order on money refunded a moment later. Kept (true) when the order is COMPLETED and this is its only approved
   * payment (`onlyApprovedPayment`); refunded otherwise, in the same transaction (the simulated gateway writes its
   * ledger there: never a second pool connection while this one holds the lock). Also says the order's terminal
   * status under that lock (`closedAs`; undefined when a Reset run has reopened it since).
   */
  async function settleLateCapture(
    orderId: string,
    idempotencyKey: string,
  ): Promise<{ kept: boolean; closedAs: OrderWorkflowResult['status'] | undefined }> {
    return db.transaction(async (trx) => {
      const status = (await trx<OrderLockRow>(TABLES.orders).where({ id: orderId }).forNoKeyUpdate().first('status'))
        ?.status;
      const kept = status === 'COMPLETED' && (await onlyApprovedPayment(trx, orderId, idempotencyKey));
      if (!kept) await gateway.refund(idempotencyKey, trx);
      return { kept, closedAs: asClosed(status) };
    });
  }

  /**
   * True when the approved payment under `idempotencyKey` is the order's only approved payment: on a COMPLETED order,
   * the capture it was completed with (docs/design.md, invariant 2), which nothing may refund.
   */
  async function onlyApprovedPayment(trx: Knex.Transaction, orderId: string, idempotencyKey: string): Promise<boolean> {
    const approved = await trx(TABLES.payments)
      .where({ order_id: orderId, status: PAYMENT_STATUS.approved })
      .pluck<string[]>('idempotency_key');
    return approved.length === 1 && approved[0] === idempotencyKey;
  }

  /**
   * Commits the held stock and records COMPLETED in one round trip (`orderflow_complete_order`); a repeat records
   * nothing new. Fails non-retryably (`ReservationLost`) when the order holds no stock, held or committed.
   */
  async function completeOrder(input: StepInput): Promise<CompleteOrderResult> {
    const { orderId } = input;
    let completed: AppendedEvent | undefined;
    try {
      [completed] = await callStep<AppendedEvent>(
        'SELECT * FROM orderflow_complete_order(?::uuid, ?)',
        [orderId, `${input.eventKeyPrefix}/COMPLETED`],
        orderId,
      );
    } catch (error) {
      if ((error as { code?: unknown }).code !== NO_STOCK_TO_COMMIT) throw error;
      throw ApplicationFailure.create({
        message: `order ${orderId} holds no stock to commit`,
        type: ACTIVITY_FAILURE_TYPES.reservationLost,
        nonRetryable: true,
      });
    }
    if (completed === undefined) throw new Error(`orderflow_complete_order returned nothing for order ${orderId}`);
    await publish(orderId, [completed]);
    return { event: toStatusEvent(completed) };
  }

  /**
   * Under the order row lock: when the order's stock is committed, records COMPLETED again under this step's key
   * (nothing is undone) and returns that event; otherwise undefined. Fails `OrderChanged` when `input.ifLastSeq` is
   * not the order's newest seq.
   */
  async function completedInstead(
    trx: Knex.Transaction,
    input: CompensateOrderInput,
  ): Promise<AppendedEvent | undefined> {
    const { orderId } = input;
    const order = await trx<OrderLockRow>(TABLES.orders).where({ id: orderId }).forNoKeyUpdate().first('id');
    if (order === undefined) throw orderNotRecordedFailure(orderId);
    if (input.ifLastSeq !== undefined) {
      // A retry of this very call finds its own recording on top: that is no change.
      const newest = await lastEvent(orderId, trx);
      const seq = Number(newest?.seq ?? 0);
      const ours = newest?.event_key?.startsWith(`${input.eventKeyPrefix}/`) === true;
      if (seq !== input.ifLastSeq && !ours) {
        throw ApplicationFailure.create({
          message: `order ${orderId} changed since it was looked at (newest event seq ${seq}, expected ${input.ifLastSeq}); nothing undone`,
          type: ACTIVITY_FAILURE_TYPES.orderChanged,
          nonRetryable: true,
        });
      }
    }
    if ((await reservationStatusCounts(trx, orderId)).committed === 0) return undefined;
    return append(trx, input, { status: 'COMPLETED', detail: { cancelIgnored: input.reason } });
  }

  /** Tells the relay's stock views about lines returned to stock. */
  async function publishReleased(lines: ReleasedLine[]): Promise<void> {
    if (lines.length === 0) return;
    await publishStock(lines.map((line) => ({ productId: line.product_id, kind: 'release', quantity: line.quantity })));
  }

  /** The order's newest event with its key (read on `conn`, a transaction or the pool), or undefined when none. */
  async function lastEvent(
    orderId: string,
    conn: Knex | Knex.Transaction = db,
  ): Promise<(AppendedEvent & { event_key: string | null }) | undefined> {
    const [last] = await conn(`${TABLES.orderEvents} as e`)
      .join(`${TABLES.orders} as o`, 'o.id', 'e.order_id')
      .where('e.order_id', orderId)
      .orderBy('e.seq', 'desc')
      .limit(1)
      .select<(AppendedEvent & { event_key: string | null })[]>(
        'e.seq',
        'e.status',
        'e.detail',
        'e.created_at',
        'e.event_key',
        'o.customer_id',
      );
    return last;
  }

  /**
   * True when this activity belongs to a run of the order's workflow that is no longer its current run (describe
   * without a run id): an operator's Reset replaced it, and the newer run owns the order. False for other callers
   * (the reconciliation pass, tests), without a Temporal client, and when describing fails: a compensation never
   * waits on Temporal, it then goes on as before.
   */
  async function replacedRun(orderId: string): Promise<boolean> {
    const run = activityRun();
    if (temporal === undefined || run === undefined || run.workflowId !== workflowIdFor(orderId)) return false;
    try {
      const described = await temporal.connection.withDeadline(Date.now() + DESCRIBE_DEADLINE_MS, () =>
        temporal.workflowService.describeWorkflowExecution({
          namespace: temporal.options.namespace,
          execution: { workflowId: run.workflowId },
        }),
      );
      const current = described.workflowExecutionInfo?.execution?.runId;
      return typeof current === 'string' && current !== '' && current !== run.runId;
    } catch (error) {
      logger.warn('compensation goes on without describing its workflow', { orderId, error: String(error) });
      return false;
    }
  }

  /**
   * The compensation of the order's own run, fenced by run. A run a Reset replaced keeps its activities running in
   * the workers; its compensation must not release what the newer run placed, nor record CANCELLED under it. So:
   * read the newest seq, check with Temporal that this run is still current (else skip: the newer run settles the
   * order), and compensate only while that seq is still the newest (`ifLastSeq`). If something was recorded since
   * (the newer run's placement after a Reset that landed after the check, or a stale charge of a run replaced
   * earlier), check again. Other callers pass through unchanged.
   */
  async function compensateOrder(input: CompensateOrderInput): Promise<CompensateOrderResult> {
    const run = activityRun();
    if (input.ifLastSeq !== undefined || run?.workflowId !== workflowIdFor(input.orderId)) return compensate(input);
    for (;;) {
      const newest = await lastEvent(input.orderId);
      if (await replacedRun(input.orderId)) {
        logger.warn('compensation skipped: a newer run of the order took over (a Reset)', {
          orderId: input.orderId,
          runId: run.runId,
        });
        if (newest === undefined) throw orderNotRecordedFailure(input.orderId);
        return { status: input.status, released: 0, refunded: 0, event: toStatusEvent(newest) };
      }
      try {
        return await compensate({ ...input, ifLastSeq: Number(newest?.seq ?? 0) });
      } catch (error) {
        if (!(error instanceof ApplicationFailure && error.type === ACTIVITY_FAILURE_TYPES.orderChanged)) throw error;
      }
    }
  }

  /**
   * Ends an order CANCELLED or FAILED with nothing kept: held stock released, every approved payment of the order
   * refunded, then the terminal status recorded. If the stock is already committed the order is COMPLETED and stays
   * so (recorded again under this step's key; nothing is undone). Safe to repeat, and safe for any caller — the
   * order's own run or the reconciliation workflow.
   *
   * Two transactions. The first releases the held stock at once (so it is free even while the gateway is down). The
   * second refunds and records the terminal status under the order row lock, after releasing again: the run a Reset
   * started may have placed the order since (this step, of the run it replaced, still running in a worker). That
   * run's placement and charge take the same lock, so it never completes the order on a payment refunded here, and
   * this step never records CANCELLED over stock that run committed, nor leaves its reservation held.
   */
  async function compensate(input: CompensateOrderInput): Promise<CompensateOrderResult> {
    const { orderId } = input;
    const completedResult = async (event: AppendedEvent): Promise<CompensateOrderResult> => {
      await publish(orderId, [event]);
      logger.info('compensation skipped: stock already committed', { orderId, reason: input.reason });
      return { status: 'COMPLETED', released: 0, refunded: 0, event: toStatusEvent(event) };
    };
    const first = await db.transaction(
      async (trx): Promise<{ completed: AppendedEvent } | { lines: ReleasedLine[] }> => {
        const completed = await completedInstead(trx, input);
        return completed === undefined ? { lines: await releaseInTransaction(trx, orderId) } : { completed };
      },
    );
    if ('completed' in first) return completedResult(first.completed);
    await publishReleased(first.lines);

    type Closed = { terminal: AppendedEvent; lines: ReleasedLine[]; refunded: number };
    const last = await db.transaction(async (trx): Promise<{ completed: AppendedEvent } | Closed> => {
      const completed = await completedInstead(trx, input);
      if (completed !== undefined) return { completed };
      const lines = await releaseInTransaction(trx, orderId);
      const approved = await trx(TABLES.payments)
        .where({ order_id: orderId, status: PAYMENT_STATUS.approved })
        .select<{ idempotency_key: string }[]>('idempotency_key');
      let refunded = 0;
      for (const payment of approved) {
        if ((await gateway.refund(payment.idempotency_key, trx)).refunded) refunded += 1;
      }
      const everRefunded = await trx(TABLES.payments)
        .where({ order_id: orderId, status: PAYMENT_STATUS.refunded })
        .first<{ id: number } | undefined>('id');
      const terminal = await append(trx, input, {
        status: input.status,
        detail: { reason: input.reason, refunded: everRefunded !== undefined, ...input.detail },
        failureReason: input.reason,
      });
      return { terminal, lines, refunded };
    });
    if ('completed' in last) return completedResult(last.completed);
    await publishReleased(last.lines);
    await publish(orderId, [last.terminal]);
    const released = first.lines.length + last.lines.length;
    logger.info('order compensated', { orderId, status: input.status, released, refunded: last.refunded });
    return { status: input.status, released, refunded: last.refunded, event: toStatusEvent(last.terminal) };
  }

  /** Marks a cancel on the order row, so a charge that has not started yet charges nothing (see `chargeOrder`). */
  async function markCancelRequested({ orderId, runId }: { orderId: string; runId: string }): Promise<void> {
    await markOrderCancelRequested(db, orderId, runId);
  }

  /**
   * Confirms the terminal status a run ends with against the order's durable state, just before the run completes.
   * A Reset to the run's last workflow task replays the compensation's result from history while another run may
   * have completed the order since: committed stock means COMPLETED (recorded again, above everything), and a row
   * whose newest status is another one gets this status recorded again. Otherwise nothing is written.
   */
  async function confirmTerminal(input: ConfirmTerminalInput): Promise<ConfirmTerminalResult> {
    const { orderId } = input;
    const confirmed = await db.transaction(async (trx) => {
      const order = await trx<OrderLockRow>(TABLES.orders).where({ id: orderId }).forNoKeyUpdate().first('status');
      if (order === undefined) throw orderNotRecordedFailure(orderId);
      const completed = (await reservationStatusCounts(trx, orderId)).committed > 0;
      const status = completed ? 'COMPLETED' : input.status;
      if (order.status === status) return { status };
      const event = await append(trx, input, { status, detail: { confirmed: true } });
      return { status, event };
    });
    if (confirmed.event === undefined) return { status: confirmed.status };
    await publish(orderId, [confirmed.event]);
    logger.info('terminal status confirmed against the order row', { orderId, status: confirmed.status });
    return { status: confirmed.status, event: toStatusEvent(confirmed.event) };
  }

  /**
   * Records one status the workflow decided by itself (NEEDS_ATTENTION). On an order another run has closed (this
   * run was reset past its placement after the order was cancelled, or a Reset replaced it) it records nothing and
   * returns the order's last event: its terminal status, which the workflow then ends with. A closed order stays
   * closed (migration 20261130130000 holds the same rule for the charge).
   */
  async function recordTransition(input: RecordTransitionInput): Promise<StatusEvent> {
    const { orderId } = input;
    try {
      const row = await append(db, input, { status: input.status, ...(input.detail ? { detail: input.detail } : {}) });
      await publish(orderId, [row]);
      return toStatusEvent(row);
    } catch (error) {
      if (!isOrderClosed(error)) throw error;
      const last = await lastEvent(orderId);
      if (last === undefined) throw error;
      logger.warn('status not recorded: the order is closed', { orderId, asked: input.status, status: last.status });
      return toStatusEvent(last);
    }
  }

  return {
    placeOrder,
    chargeOrder,
    completeOrder,
    compensateOrder,
    confirmTerminal,
    markCancelRequested,
    recordTransition,
  };
}
