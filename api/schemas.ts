/**
 * Response schemas of every route. Handlers build their bodies to these types, the OpenAPI document is generated
 * from them, and the tests validate real responses against them, so the documentation cannot drift from the API.
 */
import { z } from 'zod';
import { MAX_CENTS } from '../lib/money';
import { storedText } from '../lib/text-schema';
import { EXPORT_STATUSES } from '../lib/events';
import { MOVEMENT_KINDS, PRODUCT_STATUSES } from '../lib/ledger';
import { ORDER_STATUSES } from '../workflows/definitions';
import { ERROR_STATUS, type ErrorCode } from '../lib/http/errors';

const isoTime = z.string().meta({ format: 'date-time', description: 'ISO-8601 timestamp' });
const orderStatus = z.enum(ORDER_STATUSES).meta({ id: 'OrderStatus' });
/** Integer cents, exact: never above `Number.MAX_SAFE_INTEGER` (lib/money.ts). */
const cents = z.number().int().min(0).max(MAX_CENTS);

/** A catalog entry. */
export const productSchema = z
  .strictObject({ sku: storedText(), name: storedText(), priceCents: cents, stock: z.number().int().min(0) })
  .meta({ id: 'Product' });

/** `productSchema` as a TypeScript type: what the handlers build. */
export type Product = z.infer<typeof productSchema>;

/** GET /products. */
export const productListSchema = z.array(productSchema).meta({ id: 'ProductList' });

/** One line of an order; the unit price is null until the line is reserved (e.g. a REJECTED order). */
export const orderItemSchema = z
  .strictObject({ sku: storedText(), quantity: z.number().int().min(1), unitPriceCents: cents.nullable() })
  .meta({ id: 'OrderItem' });

/** `orderItemSchema` as a TypeScript type: what the handlers build. */
export type OrderItem = z.infer<typeof orderItemSchema>;

/** 201 of POST /orders, and the answer to a repeat with the same Idempotency-Key and body. */
export const orderCreatedSchema = z
  .strictObject({
    orderId: z.guid(),
    customerId: storedText(),
    status: orderStatus.meta({ description: 'RESERVED for a new order; the current status for a repeated key' }),
    totalCents: cents,
    currency: storedText(),
    items: z.array(orderItemSchema),
    idempotencyKey: storedText().nullable(),
  })
  .meta({ id: 'OrderCreated' });

/** `orderCreatedSchema` as a TypeScript type: what the handlers build. */
export type OrderCreated = z.infer<typeof orderCreatedSchema>;

/** The payment of an order as recorded by the payment ledger. */
export const paymentSchema = z
  .strictObject({
    status: z.enum(['approved', 'declined', 'refunded']),
    amountCents: cents,
    attempts: z.number().int().min(0),
    updatedAt: isoTime,
  })
  .meta({ id: 'Payment' });

/** One status change of an order. */
export const orderEventSchema = z
  .strictObject({
    seq: z.number().int().min(1),
    status: orderStatus,
    at: isoTime,
    detail: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'OrderEvent' });

/** The fields of an order every view of it has. */
const orderFields = {
  orderId: z.guid(),
  customerId: storedText(),
  status: orderStatus,
  totalCents: cents,
  currency: storedText(),
  createdAt: isoTime,
  updatedAt: isoTime,
};

/** GET /orders/:id. */
export const orderViewSchema = z
  .strictObject({
    ...orderFields,
    items: z.array(orderItemSchema),
    payment: paymentSchema.nullable(),
    failureReason: storedText().nullable(),
    events: z.array(orderEventSchema),
  })
  .meta({ id: 'Order' });

/** `orderViewSchema` as a TypeScript type: what the handlers build. */
export type OrderView = z.infer<typeof orderViewSchema>;

/** One order in a list. */
export const orderSummarySchema = z.strictObject(orderFields).meta({ id: 'OrderSummary' });

/** `orderSummarySchema` as a TypeScript type: what the handlers build. */
export type OrderSummary = z.infer<typeof orderSummarySchema>;

/** GET /orders: newest first; pass `nextCursor` as `?cursor=` for the next page (null on the last page). */
export const orderPageSchema = z
  .strictObject({ orders: z.array(orderSummarySchema), nextCursor: storedText().nullable() })
  .meta({ id: 'OrderPage' });

/** `orderPageSchema` as a TypeScript type: what the handlers build. */
export type OrderPage = z.infer<typeof orderPageSchema>;

/** 202 of POST /orders/:id/cancel. */
export const cancelAcceptedSchema = z
  .strictObject({ orderId: z.guid(), status: orderStatus, cancelRequested: z.literal(true) })
  .meta({ id: 'CancelAccepted' });

/** GET /health. */
export const healthSchema = z.strictObject({ status: z.literal('ok') }).meta({ id: 'Health' });

/** State of one dependency in GET /ready. */
const dependencyState = z.enum(['ok', 'down']);

/** The checks of GET /ready. */
export const readinessChecksSchema = z
  .strictObject({ temporal: dependencyState, postgres: dependencyState, redis: dependencyState })
  .meta({ id: 'ReadinessChecks' });

/** `readinessChecksSchema` as a TypeScript type: what the handlers build. */
export type ReadinessChecks = z.infer<typeof readinessChecksSchema>;

/** 200 of GET /ready. */
export const readySchema = z
  .strictObject({ status: z.literal('ready'), checks: readinessChecksSchema })
  .meta({ id: 'Ready' });

/** The codes the API answers with: all of them but the codec server's own. */
const API_ERROR_CODES = (Object.keys(ERROR_STATUS) as ErrorCode[]).filter((code) => code !== 'undecodable_payload');
const errorCode = z.enum(API_ERROR_CODES as [ErrorCode, ...ErrorCode[]]);

/** Every error: a stable code, a human message, and code-specific details. */
export const errorSchema = z
  .looseObject({ error: errorCode, message: z.string() })
  .meta({ id: 'Error', description: 'Every error; code-specific fields sit next to error and message' });

/** An error body `{ error: code, message, ...fields }`, named `id` in the OpenAPI document (lib/http/errors.ts). */
function errorBody<C extends string, F extends z.ZodRawShape = Record<never, never>>(code: C, id: string, fields?: F) {
  return z.strictObject({ error: z.literal(code), message: z.string(), ...(fields ?? ({} as F)) }).meta({ id });
}

/** 400 validation_failed. */
export const validationErrorSchema = errorBody('validation_failed', 'ValidationError', {
  field: z.string().optional(),
  issues: z.array(z.strictObject({ field: z.string(), message: z.string() })).optional(),
});

/** 400 invalid_json / 415 / 413 / 404 / 401 and the like: just the code and a message. */
const plainError = (codes: [string, ...string[]], id: string) =>
  z.strictObject({ error: z.enum(codes), message: z.string(), limit: z.number().int().optional() }).meta({ id });

/** 400 of endpoints that read a body. */
export const badRequestSchema = z.union([validationErrorSchema, plainError(['invalid_json'], 'InvalidJsonError')]);

/** 401. */
export const unauthorizedSchema = plainError(['unauthorized', 'invalid_token'], 'UnauthorizedError');

/** 404. */
export const notFoundSchema = plainError(['not_found'], 'NotFoundError');

/** 405. */
export const methodNotAllowedSchema = errorBody('method_not_allowed', 'MethodNotAllowedError', { allow: z.string() });

/** 413. */
export const payloadTooLargeSchema = plainError(['payload_too_large'], 'PayloadTooLargeError');

/** 415. */
export const unsupportedMediaTypeSchema = plainError(['unsupported_media_type'], 'UnsupportedMediaTypeError');

/** 429. */
export const rateLimitedSchema = errorBody('rate_limited', 'RateLimitedError', {
  limit: z.number().int(),
  retryAfterSeconds: z.number().int(),
});

/** 503 (Temporal unreachable): retry after the Retry-After header. */
export const serviceUnavailableSchema = errorBody('service_unavailable', 'ServiceUnavailableError');

/** 503 of GET /ready. */
export const notReadySchema = errorBody('service_unavailable', 'NotReadyError', { checks: readinessChecksSchema });

/** 500: details are never shown. */
export const internalErrorSchema = errorBody('internal_error', 'InternalError');

const shortageSchema = z
  .strictObject({ sku: storedText(), requested: z.number().int(), available: z.number().int() })
  .meta({ id: 'Shortage' });

/** 409 of POST /orders: the order was REJECTED for lack of stock. */
export const insufficientStockSchema = errorBody('insufficient_stock', 'InsufficientStockError', {
  orderId: z.guid(),
  status: z.literal('REJECTED'),
  shortages: z.array(shortageSchema),
});

/** 422 of POST /orders: a SKU is not in the catalog (the order is REJECTED). */
export const unknownSkuSchema = errorBody('unknown_sku', 'UnknownSkuError', {
  orderId: z.guid(),
  status: z.literal('REJECTED'),
  skus: z.array(storedText()),
});

/** 422 of POST /orders: the Idempotency-Key was used before with another body. */
export const idempotencyKeyReusedSchema = errorBody('idempotency_key_reused', 'IdempotencyKeyReusedError', {
  orderId: z.guid(),
});

/** 409 of POST /orders/:id/cancel. */
export const notCancellableSchema = errorBody('not_cancellable', 'NotCancellableError', {
  orderId: z.guid(),
  status: orderStatus,
});

/** A catalog entry as admins see it (201 of POST /products, 200 of PATCH /products/:sku). */
export const productDetailSchema = z
  .strictObject({
    sku: z.string(),
    name: z.string(),
    priceCents: cents,
    stock: z.number().int().min(0),
    status: z.enum(PRODUCT_STATUSES),
    lowStockThreshold: z.number().int().min(0),
    createdAt: isoTime,
    updatedAt: isoTime,
  })
  .meta({ id: 'ProductDetail' });

/** `productDetailSchema` as a TypeScript type: what the handlers build. */
export type ProductDetail = z.infer<typeof productDetailSchema>;

/** 201 of POST /products/:sku/stock-adjustments. */
export const stockAdjustedSchema = z
  .strictObject({ sku: z.string(), stock: z.number().int().min(0), movementId: z.string() })
  .meta({ id: 'StockAdjusted' });

/** One ledger movement. */
export const movementSchema = z
  .strictObject({
    movementId: z.string(),
    kind: z.enum(MOVEMENT_KINDS),
    quantity: z.number().int().meta({ description: 'Signed change of stock (0 for commit)' }),
    orderId: z.guid().nullable(),
    reason: z.string().nullable(),
    at: isoTime,
  })
  .meta({ id: 'InventoryMovement' });

/** `movementSchema` as a TypeScript type: what the handlers build. */
export type Movement = z.infer<typeof movementSchema>;

/** GET /products/:sku/movements: newest first. */
export const movementPageSchema = z
  .strictObject({ sku: z.string(), movements: z.array(movementSchema), nextCursor: z.string().nullable() })
  .meta({ id: 'MovementPage' });

/** `movementPageSchema` as a TypeScript type: what the handlers build. */
export type MovementPage = z.infer<typeof movementPageSchema>;

/** 202 of POST /orders/:id/retry-payment. */
export const retryPaymentAcceptedSchema = z
  .strictObject({ orderId: z.guid(), status: orderStatus, retryRequested: z.literal(true) })
  .meta({ id: 'RetryPaymentAccepted' });

const exportStatus = z.enum(EXPORT_STATUSES).meta({ id: 'ExportStatus' });

/** 202 of POST /exports. */
export const exportCreatedSchema = z
  .strictObject({ exportId: z.guid(), status: exportStatus })
  .meta({ id: 'ExportCreated' });

/** GET /exports/:id. */
export const exportViewSchema = z
  .strictObject({
    exportId: z.guid(),
    status: exportStatus,
    format: z.literal('csv'),
    filters: z.record(z.string(), z.unknown()),
    rows: z.number().int().min(0),
    progress: z.number().min(0).max(1),
    requestedBy: z.string(),
    failureReason: z.string().nullable(),
    createdAt: isoTime,
    updatedAt: isoTime,
    completedAt: isoTime.nullable(),
  })
  .meta({ id: 'Export' });

/** `exportViewSchema` as a TypeScript type: what the handlers build. */
export type ExportView = z.infer<typeof exportViewSchema>;

/** 403 of admin-only routes. */
export const forbiddenSchema = plainError(['forbidden'], 'ForbiddenError');

/** 409 of POST /products: the SKU exists. */
export const productExistsSchema = errorBody('product_exists', 'ProductExistsError', { sku: z.string() });

/** 409 of PATCH /products/:sku: the status cannot go from `from` to `to`. */
export const invalidStatusTransitionSchema = errorBody('invalid_status_transition', 'InvalidStatusTransitionError', {
  sku: z.string(),
  from: z.enum(PRODUCT_STATUSES),
  to: z.enum(PRODUCT_STATUSES),
});

/** 409 of POST /products/:sku/stock-adjustments: the delta would take stock below zero; nothing changed. */
export const adjustmentInsufficientStockSchema = errorBody('insufficient_stock', 'AdjustmentInsufficientStockError', {
  sku: z.string(),
  stock: z.number().int(),
  delta: z.number().int(),
});

/**
 * 409 of POST /products/:sku/stock-adjustments: the increase would take stock on hand (in stock plus held by orders)
 * above `maxStock`; nothing changed.
 */
export const stockLimitExceededSchema = errorBody('stock_limit_exceeded', 'StockLimitExceededError', {
  sku: z.string(),
  stock: z.number().int(),
  held: z.number().int(),
  delta: z.number().int(),
  maxStock: z.number().int(),
});

/** 422 of POST /orders: a SKU is a draft or archived; no order was created. */
export const productUnavailableSchema = errorBody('product_unavailable', 'ProductUnavailableError', {
  skus: z.array(z.string()),
});

/** 409 of POST /orders/:id/retry-payment. */
export const notInAttentionSchema = errorBody('not_in_attention', 'NotInAttentionError', {
  orderId: z.guid(),
  status: orderStatus,
});

/** 409 of GET /exports/:id/download before the export completed. */
export const exportNotReadySchema = errorBody('export_not_ready', 'ExportNotReadyError', {
  exportId: z.guid(),
  status: exportStatus,
});
