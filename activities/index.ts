/**
 * The saga's activities, built from explicit dependencies by the worker entry point (and by tests, with real
 * services). The workflow imports `typeof createActivities` as a type only.
 */
import type { Client } from '@temporalio/client';
import type Redis from 'ioredis';
import type { Knex } from 'knex';
import { createLogger, type Logger } from '../lib/logger';
import { withPermanentDbErrorsNonRetryable } from './db-errors';
import { createExportActivities } from './exports';
import { createInventoryActivities } from './inventory';
import { createOrderActivities } from './orders';
import { createPaymentActivities, type PaymentGateway } from './payments';
import { createReconcileActivities } from './reconcile';
import { createSagaSteps } from './saga-steps';

export { createSimulatedGateway, gatewaySettingsFromConfig } from './payments';
export type { PaymentGateway, SimulatedGatewayDeps } from './payments';

/** What the activities need; the caller owns every client and closes it. */
export interface ActivityDeps {
  db: Knex;
  redis: Redis;
  /** Prefix of the deployment's Redis keys (`REDIS_KEY_PREFIX`), where order events are published. */
  redisKeyPrefix: string;
  gateway: PaymentGateway;
  /** Where export pages are written (`EXPORTS_DIR`). @default .data/exports */
  exportsDir?: string;
  /** @default a silent logger */
  logger?: Logger;
  /**
   * Describes order workflows: for the reconciliation (activities/reconcile.ts) and before a charge starts
   * (activities/saga-steps.ts). @default none: the reconciliation finds nothing and a charge does not wait
   */
  temporal?: Client;
  /** Longest wait of a charge for its run's pending workflow task (activities/saga-steps.ts), in ms. @default 3000 */
  workflowTaskWaitMs?: number;
}

/** Builds every activity of the order saga; register the result on the worker as its `activities`. */
export function createActivities(deps: ActivityDeps) {
  const logger = deps.logger ?? createLogger('activities', 'silent');
  const { recordOrder, recordStatus } = createOrderActivities({
    db: deps.db,
    redis: deps.redis,
    redisKeyPrefix: deps.redisKeyPrefix,
    logger,
  });
  const { reserveStock, releaseStock, commitStock } = createInventoryActivities({ db: deps.db, logger });
  const { chargePayment, refundPayment } = createPaymentActivities({ gateway: deps.gateway, logger });
  const reconcile = createReconcileActivities({ db: deps.db, temporal: deps.temporal, logger });
  const exportActivities = createExportActivities({ ...deps, exportsDir: deps.exportsDir ?? '.data/exports', logger });
  const steps = createSagaSteps({
    db: deps.db,
    redis: deps.redis,
    redisKeyPrefix: deps.redisKeyPrefix,
    gateway: deps.gateway,
    logger,
    ...(deps.temporal !== undefined ? { temporal: deps.temporal } : {}),
    ...(deps.workflowTaskWaitMs !== undefined ? { workflowTaskWaitMs: deps.workflowTaskWaitMs } : {}),
  });
  // A database error no retry can fix (bad data, a check violation) fails the activity for good, never loops.
  return withPermanentDbErrorsNonRetryable({
    ...steps,
    // Orders started before LEAN_SAGA_PATCH replay on these until they finish (workflows/order.ts).
    recordOrder,
    reserveStock,
    releaseStock,
    commitStock,
    chargePayment,
    refundPayment,
    recordStatus,
    ...reconcile,
    ...exportActivities,
  });
}

/** The activity functions, as the workflow sees them through `proxyActivities<Activities>()`. */
export type Activities = ReturnType<typeof createActivities>;
