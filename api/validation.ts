/**
 * Request schemas with their limits (parsed with lib/http/validate.ts `parseOrThrow`: a 400 naming the field).
 * The same schemas generate the OpenAPI document (api/openapi.ts), so the documented limits are the enforced ones.
 */
import { z } from 'zod';
import { customerIdSchema } from '../lib/auth';
import { MAX_REASON_LENGTH } from '../lib/storable-text';
import { PRINTABLE_ASCII, storableText } from '../lib/text-schema';
import { PRODUCT_STATUSES } from '../lib/ledger';
import { ORDER_STATUSES } from '../workflows/definitions';
import { orderLinesSchema, SKU_PATTERN, SKU_RULE } from '../lib/order-lines';
import { timestamptzSchema } from '../lib/pg-values';

/** Limits of an order's payment token and Idempotency-Key (its lines' limits: lib/order-lines.ts). */
const ORDER_LIMITS = {
  maxPaymentTokenLength: 200,
  maxIdempotencyKeyLength: 255,
} as const;

/** Page sizes of the paginated lists (GET /orders, GET /products/:sku/movements). */
export const PAGE_LIMITS = { default: 20, max: 100 } as const;

/**
 * Body of POST /orders. A SKU may appear once per order: a duplicate line is refused (400) rather than merged, so a
 * client's mistake never silently changes quantities (docs/api.md).
 */
export const createOrderBodySchema = z
  .strictObject({
    items: orderLinesSchema,
    payment: z.strictObject({
      token: storableText({ max: ORDER_LIMITS.maxPaymentTokenLength, pattern: PRINTABLE_ASCII }),
    }),
  })
  .meta({ id: 'CreateOrderRequest' });

/** A validated POST /orders body. */
export type CreateOrderBody = z.infer<typeof createOrderBodySchema>;

/** Optional body of POST /orders/:id/cancel: a reason recorded with the cancel. */
export const cancelBodySchema = z
  .strictObject({
    reason: storableText({ max: MAX_REASON_LENGTH }).optional(),
  })
  .meta({ id: 'CancelOrderRequest' });

/** Optional body of POST /orders/:id/retry-payment: nothing to say, so only `{}` (or no body at all). */
export const retryPaymentBodySchema = z.strictObject({}).meta({ id: 'RetryPaymentRequest' });

/** The optional `Idempotency-Key` header. */
export const idempotencyKeySchema = storableText({
  max: ORDER_LIMITS.maxIdempotencyKeyLength,
  pattern: PRINTABLE_ASCII,
});

/** An order id in a path: any UUID (random for orders without a key, derived for keyed ones). */
export const orderIdSchema = z.guid();

/** `?limit=` of a paginated list: an integer 1..PAGE_LIMITS.max. */
const pageLimit = storableText({
  max: 4,
  pattern: { regex: /^\d{1,4}$/, message: `must be an integer from 1 to ${PAGE_LIMITS.max}` },
})
  .transform(Number)
  .pipe(
    z
      .number()
      .min(1, { error: `must be an integer from 1 to ${PAGE_LIMITS.max}` })
      .max(PAGE_LIMITS.max, { error: `must be an integer from 1 to ${PAGE_LIMITS.max}` }),
  );

/** `?cursor=` of a paginated list: opaque, as a previous page returned it. */
const pageCursor = storableText({ max: 200 });

/** Query of GET /orders; every parameter is optional and given at most once. */
export const listOrdersQuerySchema = z.strictObject({
  status: z.enum(ORDER_STATUSES, { error: `must be one of ${ORDER_STATUSES.join(', ')}` }).optional(),
  limit: pageLimit.optional(),
  cursor: pageCursor.optional(),
  /** Admins only: list one customer's orders. */
  customerId: customerIdSchema.optional(),
});

/** A validated GET /orders query. */
export type ListOrdersQuery = z.infer<typeof listOrdersQuerySchema>;

/** Limits of the catalog and of stock adjustments. */
export const CATALOG_LIMITS = {
  maxNameLength: 200,
  /** Prices and stock stay inside PostgreSQL `integer`. */
  maxPriceCents: 100_000_000,
  maxStock: 1_000_000_000,
  maxDelta: 1_000_000_000,
  maxLowStockThreshold: 1_000_000,
} as const;

function integerIn(min: number, max: number) {
  return z
    .number({ error: 'must be an integer' })
    .int({ error: 'must be an integer' })
    .min(min, { error: `must be an integer from ${min} to ${max}` })
    .max(max, { error: `must be an integer from ${min} to ${max}` });
}

/** A SKU in a request body or path. */
export const skuSchema = z.string({ error: 'must be a string' }).regex(SKU_PATTERN, { error: SKU_RULE });

const productStatus = z.enum(PRODUCT_STATUSES, { error: `must be one of ${PRODUCT_STATUSES.join(', ')}` });

/**
 * Statuses a product may be created with: `archived` is refused as `draft` -> `archived` is (archive what was on
 * sale, api/catalog-store.ts).
 */
const newProductStatus = z.enum(['draft', 'published'], {
  error: 'must be draft or published (a product is archived once it was on sale)',
});

/** Body of POST /products; a new product is a draft unless `status` says otherwise. */
export const createProductBodySchema = z
  .strictObject({
    sku: skuSchema,
    name: storableText({ max: CATALOG_LIMITS.maxNameLength }),
    priceCents: integerIn(0, CATALOG_LIMITS.maxPriceCents),
    stock: integerIn(0, CATALOG_LIMITS.maxStock).optional(),
    status: newProductStatus.optional(),
    lowStockThreshold: integerIn(0, CATALOG_LIMITS.maxLowStockThreshold).optional(),
  })
  .meta({ id: 'CreateProductRequest' });

/** Body of PATCH /products/:sku: at least one field. Stock changes only through stock adjustments. */
export const updateProductBodySchema = z
  .strictObject({
    name: storableText({ max: CATALOG_LIMITS.maxNameLength }).optional(),
    priceCents: integerIn(0, CATALOG_LIMITS.maxPriceCents).optional(),
    status: productStatus.optional(),
    lowStockThreshold: integerIn(0, CATALOG_LIMITS.maxLowStockThreshold).optional(),
  })
  .refine((body) => Object.keys(body).length > 0, { error: 'must change at least one field' })
  .meta({ id: 'UpdateProductRequest' });

/** Body of POST /products/:sku/stock-adjustments. */
export const stockAdjustmentBodySchema = z
  .strictObject({
    delta: integerIn(-CATALOG_LIMITS.maxDelta, CATALOG_LIMITS.maxDelta).refine((delta) => delta !== 0, {
      error: 'must not be 0',
    }),
    reason: storableText({ max: MAX_REASON_LENGTH }),
  })
  .meta({ id: 'StockAdjustmentRequest' });

/** Query of GET /products/:sku/movements. */
export const listMovementsQuerySchema = z.strictObject({
  limit: pageLimit.optional(),
  cursor: pageCursor.optional(),
});

/** A validated GET /products/:sku/movements query. */
export type ListMovementsQuery = z.infer<typeof listMovementsQuerySchema>;

/**
 * Query of GET /exports/:id/download: `bom=true` starts the CSV with a UTF-8 byte order mark (U+FEFF), which Excel
 * needs to read non-ASCII text (a customer id such as `café`) as UTF-8 rather than the machine's legacy code page.
 */
export const exportDownloadQuerySchema = z.strictObject({
  bom: z.enum(['true', 'false']).optional(),
});

/** A validated GET /exports/:id/download query. */
export type ExportDownloadQuery = z.infer<typeof exportDownloadQuerySchema>;

/**
 * Body of POST /exports. `from`/`to` bound the orders' creation time (from inclusive, to exclusive); each is a
 * date-time PostgreSQL can compare with (lib/pg-values.ts), so the export's activity never meets one it refuses.
 */
export const createExportBodySchema = z
  .strictObject({
    format: z.literal('csv', { error: 'must be "csv"' }),
    filters: z
      .strictObject({
        status: z.enum(ORDER_STATUSES, { error: `must be one of ${ORDER_STATUSES.join(', ')}` }).optional(),
        customerId: storableText({ max: 128 }).optional(),
        from: timestamptzSchema().optional(),
        to: timestamptzSchema().optional(),
      })
      .refine((f) => f.from === undefined || f.to === undefined || Date.parse(f.from) < Date.parse(f.to), {
        error: 'from must be before to',
        path: ['to'],
      })
      .optional(),
  })
  .meta({ id: 'CreateExportRequest' });

/** A validated POST /exports body. */
export type CreateExportBody = z.infer<typeof createExportBodySchema>;

/** An export id in a path. */
export const exportIdSchema = z.guid();
