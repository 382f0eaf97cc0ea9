/**
 * Timeouts and retry policies of the saga's activities, one named object per kind of step (imported by the saga and
 * by the bench's no-op copy of it, bench/floor).
 */
import type { ActivityOptions } from '@temporalio/workflow';
import { FAILURE_TYPES, type SagaSettings } from './definitions';

/** Bookkeeping and stock steps are single database transactions; anything slower is a stuck connection. */
export const STEP_TIMEOUTS = { startToCloseTimeout: '10s' } as const;

/** Bookkeeping and stock steps are idempotent and the saga cannot go on without them: retry until they succeed. */
export const STEP_RETRY = { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' } as const;

/** Compensations must eventually succeed (no stock held, no money kept): unbounded retries, capped backoff. */
export const COMPENSATION_RETRY = { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '1m' } as const;

/** One charge attempt, when the order's settings do not say otherwise (a gateway call, slow ones included). */
export const DEFAULT_CHARGE_TIMEOUT_MS = 10_000;

/** The charge runs on the order's own retry budget; a decline is final, anything else counts against the budget. */
export function chargeOptions(settings: SagaSettings): ActivityOptions {
  const retry = settings.paymentRetry;
  return {
    startToCloseTimeout: settings.chargeTimeoutMs ?? DEFAULT_CHARGE_TIMEOUT_MS,
    retry: {
      initialInterval: retry.initialIntervalMs,
      backoffCoefficient: retry.backoffCoefficient,
      maximumInterval: retry.maximumIntervalMs,
      maximumAttempts: retry.maximumAttempts,
      nonRetryableErrorTypes: [FAILURE_TYPES.paymentDeclined],
    },
  };
}
