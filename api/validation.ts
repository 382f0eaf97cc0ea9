/**
 * Request schemas with their limits, and the one function that turns a zod failure into a 400 naming the field.
 * The same schemas generate the OpenAPI document (api/openapi.ts), so the documented limits are the enforced ones.
 */
import { z } from 'zod';
import { ORDER_STATUSES } from '../workflows/definitions';
import { validationError } from './errors';

/** SKU format: upper-case letters, digits and dashes, starting with a letter or digit, at most 64 characters. */
export const SKU_PATTERN = /^[A-Z0-9][A-Z0-9-]{0,63}$/;

/** Limits of one order. */
export const ORDER_LIMITS = {
  minLines: 1,
  maxLines: 50,
  minQuantity: 1,
  maxQuantity: 1000,
  maxPaymentTokenLength: 200,
  maxIdempotencyKeyLength: 255,
} as const;

/** Page sizes of GET /orders. */
export const PAGE_LIMITS = { default: 20, max: 100 } as const;

const PRINTABLE_ASCII = /^[\x20-\x7E]+$/;

/** One line of POST /orders. */
export const orderLineSchema = z
  .strictObject({
    sku: z.string().regex(SKU_PATTERN, { error: 'must be 1-64 characters of A-Z, 0-9 and "-", not starting with "-"' }),
    quantity: z
      .number({ error: 'must be an integer' })
      .int({ error: 'must be an integer' })
      .min(ORDER_LIMITS.minQuantity, { error: `must be at least ${ORDER_LIMITS.minQuantity}` })
      .max(ORDER_LIMITS.maxQuantity, { error: `must be at most ${ORDER_LIMITS.maxQuantity}` }),
  })
  .meta({ id: 'OrderLineInput' });

/**
 * Body of POST /orders. A SKU may appear once per order: a duplicate line is refused (400) rather than merged, so a
 * client's mistake never silently changes quantities (docs/api.md).
 */
export const createOrderBodySchema = z
  .strictObject({
    items: z
      .array(orderLineSchema)
      .min(ORDER_LIMITS.minLines, { error: `must have at least ${ORDER_LIMITS.minLines} line` })
      .max(ORDER_LIMITS.maxLines, { error: `must have at most ${ORDER_LIMITS.maxLines} lines` })
      .superRefine((items, ctx) => {
        const seen = new Set<string>();
        items.forEach((item, index) => {
          if (seen.has(item.sku)) {
            ctx.addIssue({
              code: 'custom',
              path: [index, 'sku'],
              message: `duplicate SKU ${item.sku}: one line per SKU`,
            });
          }
          seen.add(item.sku);
        });
      }),
    payment: z.strictObject({
      token: z
        .string({ error: 'must be a string' })
        .min(1, { error: 'must not be empty' })
        .max(ORDER_LIMITS.maxPaymentTokenLength, {
          error: `must be at most ${ORDER_LIMITS.maxPaymentTokenLength} characters`,
        })
        .regex(PRINTABLE_ASCII, { error: 'must be printable ASCII' }),
    }),
  })
  .meta({ id: 'CreateOrderRequest' });

/** A validated POST /orders body. */
export type CreateOrderBody = z.infer<typeof createOrderBodySchema>;

/** Optional body of POST /orders/:id/cancel: a reason recorded with the cancel. */
export const cancelBodySchema = z
  .strictObject({
    reason: z
      .string()
      .min(1, { error: 'must not be empty' })
      .max(200, { error: 'must be at most 200 characters' })
      .optional(),
  })
  .meta({ id: 'CancelOrderRequest' });

/** The optional `Idempotency-Key` header. */
export const idempotencyKeySchema = z
  .string()
  .min(1, { error: 'must not be empty' })
  .max(ORDER_LIMITS.maxIdempotencyKeyLength, {
    error: `must be at most ${ORDER_LIMITS.maxIdempotencyKeyLength} characters`,
  })
  .regex(PRINTABLE_ASCII, { error: 'must be printable ASCII' });

/** An order id in a path: any UUID (random for orders without a key, derived for keyed ones). */
export const orderIdSchema = z.guid();

/** Query of GET /orders; every parameter is optional and given at most once. */
export const listOrdersQuerySchema = z.strictObject({
  status: z.enum(ORDER_STATUSES, { error: `must be one of ${ORDER_STATUSES.join(', ')}` }).optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, { error: `must be an integer from 1 to ${PAGE_LIMITS.max}` })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(1, { error: `must be an integer from 1 to ${PAGE_LIMITS.max}` })
        .max(PAGE_LIMITS.max, { error: `must be an integer from 1 to ${PAGE_LIMITS.max}` }),
    )
    .optional(),
  cursor: z.string().min(1).max(200).optional(),
  /** Admins only: list one customer's orders. */
  customerId: z.string().min(1).max(128).optional(),
});

/** A validated GET /orders query. */
export type ListOrdersQuery = z.infer<typeof listOrdersQuerySchema>;

/** Formats a zod path as `items[0].quantity`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** One problem with a request, by field. */
export interface FieldIssue {
  field: string;
  message: string;
}

/** Flattens zod issues to field/message pairs; unknown keys become one issue per key. */
export function fieldIssues(error: z.ZodError, root: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const field = formatPath([...issue.path, key]);
        issues.push({ field: root === '' ? field : `${root}.${field}`, message: 'unknown field' });
      }
      continue;
    }
    const path = formatPath(issue.path);
    const field = root === '' ? path || 'body' : path === '' ? root : `${root}.${path}`;
    const missing = issue.code === 'invalid_type' && issue.input === undefined;
    issues.push({ field, message: missing ? 'is required' : issue.message });
  }
  return issues;
}

/** Parses `value` with `schema` or throws a 400 naming the first offending field (all issues in `issues`). */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, root = ''): z.output<S> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issues = fieldIssues(result.error, root);
  const first = issues[0] ?? { field: root || 'body', message: 'invalid' };
  throw validationError(first.field, first.message, issues.slice(0, 20));
}
