/**
 * The order saga, one workflow per order (docs/design.md, "Statuses"; docs/saga.md):
 *
 *   PENDING -> RESERVED -> CHARGING -> PAID -> COMPLETED
 *         \-> REJECTED      |  ^  \-> FAILED (declined: stock released)
 *                           v  |
 *                     NEEDS_ATTENTION (retry budget spent: stock held, waits for `retryPayment` or `cancel`)
 *
 * and CANCELLED from any non-terminal status, with stock released and any captured payment refunded.
 *
 * Each step is one activity that records the statuses it reaches, so a happy order is two workflow tasks and one
 * activity task (activities/saga-steps.ts):
 *
 *   task 1  placeOrder (local): PENDING + RESERVED in one transaction; answers the `reservation` update; schedules
 *           chargeOrder (CHARGING, gateway, then PAID + stock committed + COMPLETED in one transaction)
 *   task 2  completes the workflow
 *
 * (Lean runs started before the `commit-with-charge` patch, and zero totals, commit in a `completeOrder` step of
 * their own: three workflow tasks and two activity tasks.)
 *
 * Cancellation is a flag, not a Temporal scope cancellation: the saga runs non-cancellable and checks the flag between
 * steps, so a charge in flight always finishes and compensations always run. While a charge is scheduled, the flag is
 * also written to the order row (`markCancelRequested`): a charge that has not started yet sees it and charges
 * nothing (it first waits while Temporal holds a workflow task for this run, so a cancel that reached Temporal first is
 * marked first), and a charge that has sees it before committing the stock, records PAID only, and the payment is
 * refunded.
 * A cancel that reaches the row after the commit is too late: the order is COMPLETED. A Temporal "cancel workflow"
 * request from the UI means the same as the `cancel` signal.
 */
import {
  ActivityFailure,
  CancellationScope,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ChargeOrderResult } from '../activities/contract';
import { chargeOptions, COMPENSATION_RETRY, STEP_RETRY, STEP_TIMEOUTS } from './activity-options';
import {
  CANCEL_REASONS,
  DEFAULT_CURRENCY,
  FAILURE_TYPES,
  isTerminal,
  COMMIT_WITH_CHARGE_PATCH,
  LEAN_SAGA_PATCH,
  CHARGE_CLOSED_AS_PATCH,
  workflowIdFor,
  type OrderStatus,
  type OrderWorkflowInput,
  type OrderWorkflowResult,
  type ReservationOutcome,
  type StatusEvent,
} from './definitions';
import { orderSagaV1 } from './order-v1';
import { checkedOrderInput } from './order-input';
import { awaitOperator, initialView, runToEnd, setOrderHandlers, takeCancel, upsertOrderAttributes } from './handlers';

/** Runs one order from PENDING to a terminal status; a cancelled order is a normal result, not a failure. */
export async function orderWorkflow(raw: OrderWorkflowInput): Promise<OrderWorkflowResult> {
  // A hand-started run with a bad input fails here, before any step (workflows/order-input.ts). Only when the run
  // executes for the first time: a replayed history was decided without this check (a run started before it, whose
  // input a later rule refuses, such as a customer id with a bidi control), and must replay as it ran, not fail.
  const input = workflowInfo().unsafe.isReplaying ? raw : checkedOrderInput(raw);
  // Newest shape first: a run replays the shape whose marker its history holds (a new run records the newest).
  if (patched(COMMIT_WITH_CHARGE_PATCH)) return leanSaga(input, { commitWithCharge: true });
  return patched(LEAN_SAGA_PATCH) ? leanSaga(input, { commitWithCharge: false }) : orderSagaV1(input);
}

/** What the order waits for, per status, as shown in the Temporal UI's current details. */
const WAITING_FOR: Partial<Record<OrderStatus, string>> = {
  PENDING: 'the stock reservation',
  RESERVED: 'the payment',
  CHARGING: 'the payment gateway',
  NEEDS_ATTENTION: 'an operator: signal `retryPayment` or `cancel`',
  PAID: 'the stock commit',
};

/** Formats cents for people (the UI's details), e.g. 2400 USD -> "24.00 USD". */
function money(cents: number, currency: string): string {
  return `${(cents / 100).toFixed(2)} ${currency}`;
}

/** Variants of the lean saga, by the patch a run was started with. */
interface LeanShape {
  /** `commit-with-charge`: the charge also commits the stock and records COMPLETED (no `completeOrder` task). */
  commitWithCharge: boolean;
}

async function leanSaga(input: OrderWorkflowInput, shape: LeanShape): Promise<OrderWorkflowResult> {
  const { orderId } = input;
  const { runId } = workflowInfo();
  const currency = input.currency ?? DEFAULT_CURRENCY;
  // Local activities (the order's first step, NEEDS_ATTENTION, the cancel mark, the terminal check) run inside the
  // workflow task, with no task queue round trip and fewer history events. Their side effect happens before the
  // workflow task that decided it is durable: if that task is lost (worker killed, server restart) and a signal lands
  // first, the retried task may decide otherwise. So only steps that are right whatever a signal decides next are
  // local: placing the order (a cancel then releases it), NEEDS_ATTENTION (a cancel then records CANCELLED above
  // it), the cancel mark and the terminal check (it only re-reads and re-asserts). Every step that moves money or
  // commits stock is a regular activity: scheduling it is what makes the decision durable (with `completeOrder`
  // local, a cancel replayed ahead of it refunded an order whose stock was already committed, found by
  // `npm run chaos`). docs/saga.md, "Which steps are local".
  const local = (summary: string) => proxyLocalActivities<Activities>({ ...STEP_TIMEOUTS, retry: STEP_RETRY, summary });
  const step = (summary: string) => proxyActivities<Activities>({ ...STEP_TIMEOUTS, retry: STEP_RETRY, summary });
  const undo = (summary: string) =>
    proxyActivities<Activities>({ ...STEP_TIMEOUTS, retry: COMPENSATION_RETRY, summary });

  const view = initialView(orderId);
  let cancelReason: string | undefined;
  let reservation: ReservationOutcome | undefined;
  let totalCents: number | undefined;
  /** True while a charge activity is scheduled: a cancel must then reach it through the order row. */
  let charging = false;
  let committing = false;
  let stepCount = 0;
  /** `<runId>/<n>`: the idempotency key prefix of the next step's recordings (activities/saga-steps.ts). */
  const nextEventKeyPrefix = (): string => `${runId}/${++stepCount}`;

  /** Shows the order in the Temporal UI: the OrderStatus search attribute and the current details. */
  function show(status: OrderStatus): void {
    view.status = status;
    upsertOrderAttributes(status, input.customerId, totalCents);
    describe();
  }

  /** The UI's "current details": status, total, payment and what the order waits for; never the payment token. */
  function describe(): void {
    const lines = [`**Status:** ${view.status}`];
    if (totalCents !== undefined) lines.push(`**Total:** ${money(totalCents, currency)}`);
    if (view.payment.status !== 'none') {
      lines.push(
        `**Payment:** ${view.payment.status} (round ${view.attempts}, key \`${view.payment.idempotencyKey}\`)`,
      );
      if (view.payment.lastError !== undefined) lines.push(`**Last error:** ${view.payment.lastError}`);
    }
    if (view.cancelRequested && !isTerminal(view.status)) lines.push(`**Cancel requested:** ${cancelReason ?? ''}`);
    const waiting = isTerminal(view.status) ? undefined : WAITING_FOR[view.status];
    lines.push(waiting === undefined ? '**Waiting for:** nothing (finished)' : `**Waiting for:** ${waiting}`);
    setCurrentDetails(lines.join('\n\n'));
  }

  function remember(events: StatusEvent[]): void {
    view.events.push(...events);
  }

  const requestCancel = async (reason: string): Promise<void> => {
    if (!takeCancel(view, orderId, reason, committing)) return;
    cancelReason = reason;
    describe();
    if (charging) {
      // The charge may not have started yet: tell it through the order row (it checks under the row lock).
      await CancellationScope.nonCancellable(() =>
        local('Mark the cancel for the pending charge').markCancelRequested({ orderId, runId }),
      );
    }
  };

  const retry = setOrderHandlers({ input, view, reservation: () => reservation, requestCancel });

  /** Ends the order CANCELLED or FAILED with nothing kept; COMPLETED if its stock turned out to be committed. */
  async function abort(status: 'CANCELLED' | 'FAILED', reason: string): Promise<OrderWorkflowResult> {
    const result = await undo(
      `${status === 'CANCELLED' ? 'Cancel' : 'Fail'}: release stock, refund (${reason})`,
    ).compensateOrder({ orderId, eventKeyPrefix: nextEventKeyPrefix(), status, reason });
    remember([result.event]);
    if (result.status !== 'COMPLETED' && (result.refunded > 0 || view.payment.status === 'approved')) {
      view.payment = { ...view.payment, status: 'refunded' };
    }
    // A Reset to this very task replays the compensation's result from history; this local activity runs again and
    // reports what the order's durable state says (another run may have completed the order since).
    const confirmed = await local('Confirm the terminal status').confirmTerminal({
      orderId,
      eventKeyPrefix: nextEventKeyPrefix(),
      status: result.status,
    });
    if (confirmed.event !== undefined) remember([confirmed.event]);
    show(confirmed.status);
    return confirmed.status === 'COMPLETED'
      ? { orderId, status: 'COMPLETED' }
      : { orderId, status: confirmed.status, reason };
  }

  /** One charge round; `unavailable` once the round's retry budget is spent on transient failures. */
  async function charge(amountCents: number): Promise<ChargeOrderResult | { status: 'unavailable' }> {
    view.attempts += 1;
    view.payment = { ...view.payment, status: 'charging', amountCents };
    describe();
    charging = true;
    try {
      return await proxyActivities<Activities>({
        ...chargeOptions(input.settings),
        summary: `Charge ${money(amountCents, currency)} (round ${view.attempts})`,
      }).chargeOrder({
        orderId,
        eventKeyPrefix: nextEventKeyPrefix(),
        runId,
        amountCents,
        paymentToken: input.paymentToken,
        round: view.attempts,
        ...(shape.commitWithCharge ? { complete: true } : {}),
      });
    } catch (error) {
      if (!(error instanceof ActivityFailure)) throw error;
      const lastError = error.cause?.message ?? error.message;
      view.payment = { ...view.payment, status: 'unavailable', lastError };
      return { status: 'unavailable' };
    } finally {
      charging = false;
    }
  }

  async function saga(): Promise<OrderWorkflowResult> {
    // PENDING and RESERVED (or REJECTED) in one local activity: the reservation is decided whatever signal arrives,
    // and answers the `reservation` update inside this first workflow task.
    const placed = await local('Place the order: record it and hold its stock').placeOrder({
      orderId,
      eventKeyPrefix: nextEventKeyPrefix(),
      customerId: input.customerId,
      workflowId: workflowIdFor(orderId),
      lines: input.lines,
      requestHash: input.requestHash,
      paymentToken: input.paymentToken,
      currency,
      ...(input.idempotencyKey !== undefined ? { idempotencyKey: input.idempotencyKey } : {}),
    });
    remember(placed.events);
    reservation = placed.reservation;
    if (placed.reservation.status === 'RESERVED') totalCents = placed.reservation.totalCents;
    show(placed.status);
    if (placed.reservation.status === 'REJECTED') {
      return { orderId, status: 'REJECTED', reason: placed.reservation.reason };
    }
    if (placed.status === 'COMPLETED') return { orderId, status: 'COMPLETED' }; // a Reset run of a completed order
    const total = totalCents ?? 0;

    // CHARGING -> PAID, with NEEDS_ATTENTION whenever a round spends its whole retry budget on transient errors.
    // A zero total is never charged (docs/api.md, "Zero-total orders").
    while (total > 0) {
      if (view.cancelRequested) return abort('CANCELLED', cancelReason ?? CANCEL_REASONS.signal);
      const charged = await charge(total);
      if (charged.status !== 'unavailable') remember(charged.events);
      if (charged.status === 'approved') {
        view.payment = { status: 'approved', idempotencyKey: charged.idempotencyKey, amountCents: charged.amountCents };
        if (charged.completed === true) {
          // Committed with the payment: nothing is undone from here on, a cancel that came meanwhile included.
          show('COMPLETED');
          return { orderId, status: 'COMPLETED' };
        }
        show('PAID');
        break;
      }
      if (charged.status === 'cancelled') {
        if (charged.closedAs !== undefined && patched(CHARGE_CLOSED_AS_PATCH)) {
          // Another run or the reconciler closed the order (this run was reset past its placement, or woken in
          // NEEDS_ATTENTION by the reconciler): it stays as recorded and this run records nothing.
          const capture =
            charged.closedAs === 'COMPLETED' ? 'approved' : charged.events.length > 0 ? 'refunded' : 'none';
          view.payment = { ...view.payment, status: capture };
          show(charged.closedAs);
          return { orderId, status: charged.closedAs };
        }
        return abort('CANCELLED', cancelReason ?? CANCEL_REASONS.signal);
      }
      if (charged.status === 'declined') {
        view.payment = {
          ...view.payment,
          status: 'declined',
          idempotencyKey: charged.idempotencyKey,
          lastError: charged.reason,
        };
        if (view.cancelRequested) return abort('CANCELLED', cancelReason ?? CANCEL_REASONS.signal);
        return abort('FAILED', charged.reason || FAILURE_TYPES.paymentDeclined);
      }
      if (view.cancelRequested) return abort('CANCELLED', cancelReason ?? CANCEL_REASONS.signal);
      retry.requested = false;
      const attention = await local('Record NEEDS_ATTENTION').recordTransition({
        orderId,
        eventKeyPrefix: nextEventKeyPrefix(),
        status: 'NEEDS_ATTENTION',
        detail: { lastError: view.payment.lastError, attempt: view.attempts },
      });
      remember([attention]);
      if (isTerminal(attention.status)) {
        // Another run closed the order (this one was reset past its placement): it stays as recorded. Histories
        // recorded before this check never take it (their result is always NEEDS_ATTENTION), so no patch is needed.
        show(attention.status);
        return { orderId, status: attention.status as OrderWorkflowResult['status'] };
      }
      show('NEEDS_ATTENTION');
      cancelReason = (await awaitOperator(retry, view, input.settings.attentionTimeoutMs)) ?? cancelReason;
    }
    // A charge in flight finished after a cancel arrived: the compensation refunds it.
    if (view.cancelRequested) return abort('CANCELLED', cancelReason ?? CANCEL_REASONS.signal);

    // COMPLETED once the stock is committed, after which nothing is undone.
    committing = true;
    const completed = await step('Commit the stock and complete the order').completeOrder({
      orderId,
      eventKeyPrefix: nextEventKeyPrefix(),
    });
    remember([completed.event]);
    show('COMPLETED');
    return { orderId, status: 'COMPLETED' };
  }

  describe();
  return runToEnd(saga);
}
