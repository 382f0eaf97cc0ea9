/**
 * The order-line contract: what one line of an order is and the limits it must keep, defined once. POST /orders
 * validates a request's `items` with it (a 400 naming the field, api/validation.ts), and the saga's reservation
 * steps validate their input with the same schema (a non-retryable `InvalidActivityInput`, activities/inventory.ts),
 * so a line the API accepts is a line the reservation accepts, and nothing else is.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { OrderLine } from '../workflows/definitions';
import { ORDER_LINE_LIMITS, SKU_PATTERN, SKU_RULE } from './order-line-rules';
import { storableText } from './text-schema';

export { ORDER_LINE_LIMITS, SKU_PATTERN, SKU_RULE } from './order-line-rules';

/** One line of an order: a SKU and a quantity. */
const orderLineSchema = z
  .strictObject({
    sku: storableText({ max: 64, pattern: { regex: SKU_PATTERN, message: SKU_RULE } }),
    quantity: z
      .number({ error: 'must be an integer' })
      .int({ error: 'must be an integer' })
      .min(ORDER_LINE_LIMITS.minQuantity, { error: `must be at least ${ORDER_LINE_LIMITS.minQuantity}` })
      .max(ORDER_LINE_LIMITS.maxQuantity, { error: `must be at most ${ORDER_LINE_LIMITS.maxQuantity}` }),
  })
  .meta({ id: 'OrderLineInput' }) satisfies z.ZodType<OrderLine>;

/**
 * An order's lines: 1 to 50, one line per SKU. A repeated SKU is refused rather than merged, so a client's mistake
 * never silently changes quantities (docs/api.md, "Duplicate SKUs").
 */
export const orderLinesSchema = z
  .array(orderLineSchema)
  .min(ORDER_LINE_LIMITS.minLines, { error: `must have at least ${ORDER_LINE_LIMITS.minLines} line` })
  .max(ORDER_LINE_LIMITS.maxLines, { error: `must have at most ${ORDER_LINE_LIMITS.maxLines} lines` })
  .superRefine((lines, ctx) => {
    const seen = new Set<string>();
    lines.forEach((line, index) => {
      if (seen.has(line.sku)) {
        ctx.addIssue({ code: 'custom', path: [index, 'sku'], message: `duplicate SKU ${line.sku}: one line per SKU` });
      }
      seen.add(line.sku);
    });
  });

/**
 * The request hash of an order: SHA-256 (64 hex digits) of its lines sorted by SKU and its payment token, keys in a
 * fixed order, so two requests for the same order hash alike whatever their line order or whitespace. POST /orders
 * stores it to tell a true retry from an `Idempotency-Key` reused for another body (api/routes/create-order.ts), and
 * the placement recomputes it from the run's own lines and token, so a run started by hand with a copied hash never
 * places other lines or a charge on another card under someone's order (activities/saga-steps.ts).
 */
export function requestHashOf({ lines, paymentToken }: { lines: readonly OrderLine[]; paymentToken: string }): string {
  const sorted = [...lines]
    .sort((a, b) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0))
    .map((line) => [line.sku, line.quantity]);
  return createHash('sha256')
    .update(JSON.stringify({ v: 1, lines: sorted, paymentToken }))
    .digest('hex');
}
