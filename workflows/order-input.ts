/**
 * The order workflow's input contract, checked first in every run. The API always starts `orderWorkflow` with a
 * valid input, but an operator can start one by hand (`temporal workflow start --type orderWorkflow --input ...`):
 * an input without `settings`, with a retry policy Temporal refuses or a duration that is not a number of ms used to
 * fail every workflow task after the stock was already held, leaving the order stuck. Now such a run fails at once,
 * before any step, with a non-retryable `InvalidWorkflowInput` naming the field, and changes nothing. A run must also
 * be the order's own workflow (`order-<orderId>`): one started under another id would place, charge or reopen an
 * order whose real workflow knows nothing of it, and the reconciler would take that order for abandoned.
 *
 * Written as plain checks rather than a zod schema: the check runs in every workflow run, inside the workflow sandbox,
 * and zod would grow the workflow bundle every worker thread loads from 1.8 to 2.9 MB for a dozen field checks. The
 * rules are the API's (lib/order-line-rules.ts,
 * lib/storable-text.ts, the config's ranges, `orders.request_hash` varchar(64)), so an input the API builds always
 * passes. The workflow runs the check only when it executes (not on replay), so runs started before it, or before a
 * rule it checks was tightened, replay as they ran (no patch). Deterministic code.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { ORDER_LINE_LIMITS, SKU_PATTERN, SKU_RULE } from '../lib/order-line-rules';
import { storableTextIssue } from '../lib/storable-text';
import { workflowIdFor, type OrderWorkflowInput } from './definitions';

/** Failure type of a run started with an input outside the contract. */
export const INVALID_WORKFLOW_INPUT = 'InvalidWorkflowInput';

/** Most milliseconds a timer or timeout may take here: any the config accepts. */
const MAX_MS = Number.MAX_SAFE_INTEGER;
const ORDER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Issue = [field: string, message: string];
type Fields = Record<string, unknown>;

const isObject = (value: unknown): value is Fields =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Storable text of 1..max UTF-16 code units (lib/text-schema.ts's rule); the message, or undefined when it is. */
function textIssue(value: unknown, max: number): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length === 0 || value.length > max) return `must be 1-${max} characters`;
  return storableTextIssue(value);
}

/** An integer in [min, max]; the message, or undefined when it is. */
function integerIssue(value: unknown, min: number, max: number): string | undefined {
  return Number.isInteger(value) && (value as number) >= min && (value as number) <= max
    ? undefined
    : `must be an integer from ${min} to ${max}`;
}

function linesIssue(lines: unknown): Issue | undefined {
  const { minLines, maxLines, minQuantity, maxQuantity } = ORDER_LINE_LIMITS;
  if (!Array.isArray(lines) || lines.length < minLines || lines.length > maxLines) {
    return ['lines', `must be an array of ${minLines}-${maxLines} lines`];
  }
  const seen = new Set<string>();
  for (const [index, line] of lines.entries()) {
    if (!isObject(line)) return [`lines[${index}]`, 'must be an object'];
    const unknown = Object.keys(line).find((key) => key !== 'sku' && key !== 'quantity');
    if (unknown !== undefined) return [`lines[${index}].${unknown}`, 'unknown field'];
    if (typeof line.sku !== 'string' || !SKU_PATTERN.test(line.sku)) return [`lines[${index}].sku`, SKU_RULE];
    if (seen.has(line.sku)) return [`lines[${index}].sku`, `duplicate SKU ${line.sku}: one line per SKU`];
    seen.add(line.sku);
    const quantity = integerIssue(line.quantity, minQuantity, maxQuantity);
    if (quantity !== undefined) return [`lines[${index}].quantity`, quantity];
  }
  return undefined;
}

function settingsIssue(settings: unknown): Issue | undefined {
  if (!isObject(settings)) return ['settings', 'must be an object'];
  const retry = settings.paymentRetry;
  if (!isObject(retry)) return ['settings.paymentRetry', 'must be an object'];
  const checks: [string, string | undefined][] = [
    ['paymentRetry.initialIntervalMs', integerIssue(retry.initialIntervalMs, 1, MAX_MS)],
    ['paymentRetry.maximumIntervalMs', integerIssue(retry.maximumIntervalMs, 1, MAX_MS)],
    ['paymentRetry.maximumAttempts', integerIssue(retry.maximumAttempts, 1, 1000)],
    [
      'paymentRetry.backoffCoefficient',
      typeof retry.backoffCoefficient === 'number' && retry.backoffCoefficient >= 1 && retry.backoffCoefficient <= 100
        ? undefined
        : 'must be a number from 1 to 100',
    ],
    [
      'paymentRetry.maximumIntervalMs',
      (retry.maximumIntervalMs as number) >= (retry.initialIntervalMs as number)
        ? undefined
        : 'must be at least initialIntervalMs',
    ],
    ['attentionTimeoutMs', integerIssue(settings.attentionTimeoutMs, 1, MAX_MS)],
    [
      'chargeTimeoutMs',
      settings.chargeTimeoutMs === undefined ? undefined : integerIssue(settings.chargeTimeoutMs, 1, MAX_MS),
    ],
  ];
  const failed = checks.find(([, issue]) => issue !== undefined);
  return failed === undefined ? undefined : [`settings.${failed[0]}`, failed[1] ?? 'invalid'];
}

/** The first field of `input` outside the contract, or undefined when it keeps it. */
function inputIssue(input: unknown): Issue | undefined {
  if (!isObject(input)) return ['input', 'must be an object'];
  if (typeof input.orderId !== 'string' || !ORDER_ID.test(input.orderId)) {
    return ['orderId', 'must be a lower-case UUID'];
  }
  const texts: [string, unknown, number, boolean][] = [
    ['customerId', input.customerId, 128, true],
    ['paymentToken', input.paymentToken, 200, true],
    ['requestHash', input.requestHash, 64, true],
    ['idempotencyKey', input.idempotencyKey, 255, false],
  ];
  for (const [field, value, max, required] of texts) {
    const issue = !required && value === undefined ? undefined : textIssue(value, max);
    if (issue !== undefined) return [field, issue];
  }
  if (input.currency !== undefined && (typeof input.currency !== 'string' || !/^[A-Z]{3}$/.test(input.currency))) {
    return ['currency', 'must be an ISO 4217 code'];
  }
  return linesIssue(input.lines) ?? settingsIssue(input.settings);
}

/** The failure of a run whose input breaks the contract: non-retryable, so the workflow fails (not its task). */
const invalidInput = (message: string): ApplicationFailure =>
  ApplicationFailure.create({ message, type: INVALID_WORKFLOW_INPUT, nonRetryable: true });

/**
 * Returns `input` when it keeps the contract and this run is `order-<orderId>`; else throws a non-retryable
 * `ApplicationFailure` (type `InvalidWorkflowInput`) naming the first bad field, which fails the workflow.
 */
export function checkedOrderInput(input: unknown): OrderWorkflowInput {
  const issue = inputIssue(input);
  if (issue !== undefined) throw invalidInput(`invalid orderWorkflow input: ${issue[0]}: ${issue[1]}`);
  const order = input as OrderWorkflowInput;
  const { workflowId } = workflowInfo();
  const own = workflowIdFor(order.orderId);
  if (workflowId !== own) throw invalidInput(`order ${order.orderId} belongs to workflow ${own}, not ${workflowId}`);
  return order;
}
