/**
 * The order-line rules as plain values, with no dependency: the SKU format and the line limits. lib/order-lines.ts
 * builds the zod contract of the API and the reservation steps from them, and the workflow's input check
 * (workflows/order-input.ts) reads them too, without bundling zod into the workflow sandbox.
 */

/** SKU format: upper-case letters, digits and dashes, starting with a letter or digit, at most 64 characters. */
export const SKU_PATTERN = /^[A-Z0-9][A-Z0-9-]{0,63}$/;

/** What `SKU_PATTERN` means, as a validation message. */
export const SKU_RULE = 'must be 1-64 characters of A-Z, 0-9 and "-", not starting with "-"';

/** Limits of an order's lines: how many lines, and the quantity of one line (units of the SKU). */
export const ORDER_LINE_LIMITS = { minLines: 1, maxLines: 50, minQuantity: 1, maxQuantity: 1000 } as const;
