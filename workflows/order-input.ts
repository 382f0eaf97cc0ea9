/**
 * The order workflow's input contract, checked first in every run. The API always starts `orderWorkflow` with a
 * valid input, but an operator can start one by hand (`temporal workflow start --type orderWorkflow --input ...`):
 * an input without `settings`, with a retry policy Temporal refuses or a duration that is not a number of ms used to
 * fail every workflow task after the stock was already held, leaving the order stuck. Now such a run fails at once,
 * before any step, with a non-retryable `InvalidWorkflowInput` naming the field, and changes nothing. A run must also
 * be the order's own workflow (`order-<orderId>`): one started under another id would place, charge or reopen an
 * order whose real workflow knows nothing of it, and the reconciler would take that order for abandoned.
 *
 * Valid inputs pass unchanged, so histories of valid runs replay as before (no patch). Deterministic code.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { fieldIssues } from '../lib/field-issues';
import { orderLinesSchema } from '../lib/order-lines';
import { storableText } from '../lib/text-schema';
import { workflowIdFor, type OrderWorkflowInput } from './definitions';

/** Failure type of a run started with an input outside the contract. */
export const INVALID_WORKFLOW_INPUT = 'InvalidWorkflowInput';

/** Whole milliseconds from 1 up to about 31 years (a timer or timeout Temporal accepts). */
const milliseconds = z.number().int().min(1).max(1e12);

const settingsSchema = z
  .object({
    paymentRetry: z
      .object({
        initialIntervalMs: milliseconds,
        backoffCoefficient: z.number().min(1).max(100),
        maximumIntervalMs: milliseconds,
        maximumAttempts: z.number().int().min(1).max(1000),
      })
      .refine((retry) => retry.maximumIntervalMs >= retry.initialIntervalMs, {
        error: 'maximumIntervalMs must be at least initialIntervalMs',
        path: ['maximumIntervalMs'],
      }),
    attentionTimeoutMs: milliseconds,
    chargeTimeoutMs: milliseconds.optional(),
  })
  .loose();

/** An `OrderWorkflowInput` as the API builds it (api/routes/create-order.ts); unknown fields are tolerated. */
const orderWorkflowInputSchema = z
  .object({
    orderId: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, {
      error: 'must be a lower-case UUID',
    }),
    customerId: storableText({ max: 128 }),
    lines: orderLinesSchema,
    paymentToken: storableText({ max: 200 }),
    requestHash: storableText({ max: 128 }),
    idempotencyKey: storableText({ max: 255 }).optional(),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, { error: 'must be an ISO 4217 code' })
      .optional(),
    settings: settingsSchema,
  })
  .loose();

/**
 * Returns `input` when it keeps the contract and this run is `order-<orderId>`; else throws a non-retryable
 * `ApplicationFailure` (type `InvalidWorkflowInput`) naming the first bad field, which fails the workflow.
 */
export function checkedOrderInput(input: unknown): OrderWorkflowInput {
  const parsed = orderWorkflowInputSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    const [issue] = fieldIssues(parsed.error, { whole: 'input' });
    throw ApplicationFailure.create({
      message: `invalid orderWorkflow input: ${issue?.field ?? 'input'}: ${issue?.message ?? 'invalid'}`,
      type: INVALID_WORKFLOW_INPUT,
      nonRetryable: true,
    });
  }
  const { workflowId } = workflowInfo();
  if (workflowId !== workflowIdFor(parsed.data.orderId)) {
    throw ApplicationFailure.create({
      message: `order ${parsed.data.orderId} belongs to workflow ${workflowIdFor(parsed.data.orderId)}, not ${workflowId}`,
      type: INVALID_WORKFLOW_INPUT,
      nonRetryable: true,
    });
  }
  return input as OrderWorkflowInput;
}
