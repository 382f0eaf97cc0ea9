/**
 * The OpenAPI 3.1 document of GET /openapi.json, generated from the same zod schemas that validate requests and type
 * responses (`z.toJSONSchema`). `API_OPERATIONS` is also what the tests check real responses against.
 */
import { z } from 'zod';
import { ORDER_STATUSES } from '../workflows/definitions';
import { EXPORT_COLUMNS } from '../lib/export-files';
import { MAX_BODY_BYTES } from '../lib/http/body';
import {
  adjustmentInsufficientStockSchema,
  stockLimitExceededSchema,
  badRequestSchema,
  cancelAcceptedSchema,
  exportCreatedSchema,
  exportNotReadySchema,
  exportViewSchema,
  forbiddenSchema,
  invalidStatusTransitionSchema,
  movementPageSchema,
  notInAttentionSchema,
  productDetailSchema,
  productExistsSchema,
  productUnavailableSchema,
  retryPaymentAcceptedSchema,
  stockAdjustedSchema,
  healthSchema,
  idempotencyKeyReusedSchema,
  insufficientStockSchema,
  internalErrorSchema,
  methodNotAllowedSchema,
  notCancellableSchema,
  notFoundSchema,
  notReadySchema,
  orderCreatedSchema,
  orderPageSchema,
  orderViewSchema,
  payloadTooLargeSchema,
  productListSchema,
  rateLimitedSchema,
  readySchema,
  serviceUnavailableSchema,
  unauthorizedSchema,
  unknownSkuSchema,
  unsupportedMediaTypeSchema,
  validationErrorSchema,
} from './schemas';
import {
  cancelBodySchema,
  retryPaymentBodySchema,
  createExportBodySchema,
  createProductBodySchema,
  exportIdSchema,
  listMovementsQuerySchema,
  skuSchema,
  stockAdjustmentBodySchema,
  updateProductBodySchema,
  createOrderBodySchema,
  idempotencyKeySchema,
  listOrdersQuerySchema,
  exportDownloadQuerySchema,
  orderIdSchema,
} from './validation';

/** One documented response. */
export interface ResponseDoc {
  description: string;
  schema: z.ZodType;
  /** Content type when not JSON (GET /metrics). */
  contentType?: string;
  headers?: Record<string, string>;
}

/** One documented operation; `path` is in Koa form (`/orders/:id`). */
export interface OperationDoc {
  method: 'get' | 'post' | 'patch';
  path: string;
  summary: string;
  description?: string;
  auth: boolean;
  parameters?: {
    name: string;
    in: 'query' | 'header' | 'path';
    required: boolean;
    schema: z.ZodType;
    description: string;
  }[];
  requestBody?: { schema: z.ZodType; required: boolean };
  responses: Record<number, ResponseDoc>;
}

const RETRY_AFTER = { 'Retry-After': 'Seconds to wait before retrying' };

const authErrors: Record<number, ResponseDoc> = {
  401: { description: 'Missing, malformed, forged or expired token', schema: unauthorizedSchema },
  429: { description: 'Per-customer rate limit exceeded', schema: rateLimitedSchema, headers: RETRY_AFTER },
};

const serverErrors: Record<number, ResponseDoc> = {
  500: { description: 'Unexpected error (details are logged, never returned)', schema: internalErrorSchema },
  503: {
    description: 'PostgreSQL (or, for order writes, Temporal) unreachable; nothing was changed',
    schema: serviceUnavailableSchema,
    headers: RETRY_AFTER,
  },
};

const bodyErrors: Record<number, ResponseDoc> = {
  400: {
    description:
      'Malformed JSON, a field failing validation, or an unknown or invalid query parameter (named in `field`)',
    schema: badRequestSchema,
  },
  413: { description: `Body larger than ${MAX_BODY_BYTES} bytes`, schema: payloadTooLargeSchema },
  415: { description: 'Content-Type is not application/json (utf-8)', schema: unsupportedMediaTypeSchema },
};

const adminErrors: Record<number, ResponseDoc> = {
  ...authErrors,
  403: { description: 'The token is valid but not an admin', schema: forbiddenSchema },
};

const skuParam = {
  name: 'sku',
  in: 'path' as const,
  required: true,
  schema: skuSchema,
  description: 'Product SKU',
};

const exportIdParam = {
  name: 'id',
  in: 'path' as const,
  required: true,
  schema: exportIdSchema,
  description: 'Export id (UUID)',
};

const productNotFound = { description: 'No product with this SKU', schema: notFoundSchema };
const exportNotFound = { description: 'No export with this id', schema: notFoundSchema };

const orderIdParam = {
  name: 'id',
  in: 'path' as const,
  required: true,
  schema: orderIdSchema,
  description: 'Order id (UUID)',
};

/** The 400 every route may answer: each refuses unknown, repeated or invalid query parameters (lib/http/query.ts). */
const queryError: ResponseDoc = {
  description:
    'An unknown, repeated or invalid query parameter (named in `field`; routes without parameters take none)',
  schema: validationErrorSchema,
};

/**
 * An admin operation: a bearer token with the admin role (401, 403, 429), the body's 400/413/415 when it reads one,
 * and the server's 500/503.
 */
function admin(op: Omit<OperationDoc, 'auth'>): OperationDoc {
  const body = op.requestBody === undefined ? {} : bodyErrors;
  return { ...op, auth: true, responses: { ...body, ...adminErrors, ...op.responses, ...serverErrors } };
}

/** Adds the query parameters' 400 to every operation that does not document a 400 of its own. */
function withQueryErrors(operations: OperationDoc[]): OperationDoc[] {
  return operations.map((op) => ({ ...op, responses: { 400: queryError, ...op.responses } }));
}

/** Every operation of the API. */
export const API_OPERATIONS: OperationDoc[] = withQueryErrors([
  {
    method: 'get',
    path: '/health',
    summary: 'Liveness',
    auth: false,
    responses: { 200: { description: 'The process answers', schema: healthSchema } },
  },
  {
    method: 'get',
    path: '/ready',
    summary: 'Readiness: Temporal, PostgreSQL and Redis answer',
    auth: false,
    responses: {
      200: { description: 'Ready', schema: readySchema },
      503: {
        description: 'A dependency is down or the process is draining',
        schema: notReadySchema,
        headers: RETRY_AFTER,
      },
    },
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    auth: false,
    responses: { 200: { description: 'Prometheus text format', schema: z.string(), contentType: 'text/plain' } },
  },
  {
    method: 'get',
    path: '/openapi.json',
    summary: 'This document',
    auth: false,
    responses: { 200: { description: 'OpenAPI 3.1 document', schema: z.record(z.string(), z.unknown()) } },
  },
  {
    method: 'get',
    path: '/products',
    summary: 'The orderable catalog (published products) with current stock',
    auth: false,
    responses: { 200: { description: 'Products by SKU', schema: productListSchema }, ...serverErrors },
  },
  {
    method: 'post',
    path: '/orders',
    summary: 'Place an order; answers once stock is held',
    description:
      'Starts the order saga (update-with-start) and answers when the reservation is decided. With an ' +
      'Idempotency-Key, a repeat with the same body returns the same order (whatever its status) and never ' +
      'reserves or charges twice; the same key with another body is refused (422). A SKU may appear once per order.',
    auth: true,
    parameters: [
      {
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        schema: idempotencyKeySchema,
        description: '1-255 printable ASCII characters, unique per intended order',
      },
    ],
    requestBody: { schema: createOrderBodySchema, required: true },
    responses: {
      201: {
        description: 'Stock reserved (or a repeat of an earlier request: the same order)',
        schema: orderCreatedSchema,
        headers: { Location: 'URL of the order' },
      },
      ...bodyErrors,
      ...authErrors,
      409: { description: 'Not enough stock: the order is REJECTED', schema: insufficientStockSchema },
      422: {
        description:
          'Unknown SKU (order REJECTED), a draft or archived SKU (no order created; `skus` names them), or the ' +
          'Idempotency-Key was used with another body',
        schema: z.union([unknownSkuSchema, productUnavailableSchema, idempotencyKeyReusedSchema]),
      },
      ...serverErrors,
    },
  },
  {
    method: 'get',
    path: '/orders',
    summary: "The caller's orders, newest first",
    description: "Admins see every customer's orders and may filter by `customerId`. Pass `nextCursor` as `cursor`.",
    auth: true,
    parameters: (['status', 'limit', 'cursor', 'customerId'] as const).map((name) => ({
      name,
      in: 'query' as const,
      required: false,
      schema: listOrdersQuerySchema.shape[name],
      description: {
        status: `One of ${ORDER_STATUSES.join(', ')}`,
        limit: 'Page size, 1-100 (default 20)',
        cursor: 'nextCursor of the previous page',
        customerId: 'Admins only: one customer',
      }[name],
    })),
    responses: {
      200: { description: 'One page', schema: orderPageSchema },
      400: {
        description: 'An unknown, repeated or invalid query parameter (named in `field`)',
        schema: validationErrorSchema,
      },
      ...authErrors,
      ...serverErrors,
    },
  },
  {
    method: 'get',
    path: '/orders/:id',
    summary: 'One order with its lines, payment and status history',
    auth: true,
    parameters: [orderIdParam],
    responses: {
      200: { description: 'The order', schema: orderViewSchema },
      ...authErrors,
      404: { description: "Unknown order, or another customer's", schema: notFoundSchema },
      ...serverErrors,
    },
  },
  {
    method: 'post',
    path: '/orders/:id/cancel',
    summary: 'Ask the saga to cancel the order',
    description: 'Stock is released and a captured payment refunded in the background. Cancelling twice is harmless.',
    auth: true,
    parameters: [orderIdParam],
    requestBody: { schema: cancelBodySchema, required: false },
    responses: {
      202: { description: 'Cancel signal sent', schema: cancelAcceptedSchema },
      ...bodyErrors,
      ...authErrors,
      404: { description: "Unknown order, or another customer's", schema: notFoundSchema },
      409: { description: 'The order is COMPLETED, REJECTED or FAILED', schema: notCancellableSchema },
      ...serverErrors,
    },
  },
  admin({
    method: 'post',
    path: '/orders/:id/retry-payment',
    summary: 'Admin: charge a NEEDS_ATTENTION order again',
    description:
      'Sends the `retryPayment` signal (as the Temporal UI does); the saga charges again with the same idempotency ' +
      'key, so nothing is ever charged twice. The body is empty or `{}`.',
    parameters: [orderIdParam],
    requestBody: { schema: retryPaymentBodySchema, required: false },
    responses: {
      202: { description: 'Signal sent', schema: retryPaymentAcceptedSchema },
      404: { description: 'Unknown order', schema: notFoundSchema },
      409: { description: 'The order is not NEEDS_ATTENTION', schema: notInAttentionSchema },
    },
  }),
  admin({
    method: 'post',
    path: '/products',
    summary: 'Admin: create a product (a draft unless `status` says otherwise)',
    description: 'Its opening stock is the first movement of its ledger.',
    requestBody: { schema: createProductBodySchema, required: true },
    responses: {
      201: { description: 'Created', schema: productDetailSchema, headers: { Location: 'URL of the product' } },
      409: { description: 'The SKU exists', schema: productExistsSchema },
    },
  }),
  admin({
    method: 'patch',
    path: '/products/:sku',
    summary: 'Admin: change name, price, status or low-stock threshold',
    description:
      'Status flow: draft -> published -> archived, and back to draft from published or archived. A price change ' +
      'never changes orders already placed (their line prices are fixed at reservation).',
    parameters: [skuParam],
    requestBody: { schema: updateProductBodySchema, required: true },
    responses: {
      200: { description: 'The product as it is now', schema: productDetailSchema },
      404: productNotFound,
      409: { description: 'The status change is not allowed', schema: invalidStatusTransitionSchema },
    },
  }),
  admin({
    method: 'post',
    path: '/products/:sku/stock-adjustments',
    summary: 'Admin: add or remove stock, with a reason',
    description:
      'Under the product row lock reservations take; the change and its `adjustment` movement commit together.',
    parameters: [skuParam],
    requestBody: { schema: stockAdjustmentBodySchema, required: true },
    responses: {
      201: { description: 'Adjusted', schema: stockAdjustedSchema },
      404: productNotFound,
      409: {
        description: 'Stock would go below zero, or stock on hand above the limit; nothing changed',
        schema: z.union([adjustmentInsufficientStockSchema, stockLimitExceededSchema]),
      },
    },
  }),
  admin({
    method: 'get',
    path: '/products/:sku/movements',
    summary: "Admin: the product's inventory ledger, newest first",
    parameters: [
      skuParam,
      ...(['limit', 'cursor'] as const).map((name) => ({
        name,
        in: 'query' as const,
        required: false,
        schema: listMovementsQuerySchema.shape[name],
        description: { limit: 'Page size, 1-100 (default 20)', cursor: 'nextCursor of the previous page' }[name],
      })),
    ],
    responses: {
      200: { description: 'One page', schema: movementPageSchema },
      400: {
        description: 'An unknown, repeated or invalid query parameter (named in `field`)',
        schema: validationErrorSchema,
      },
      404: productNotFound,
    },
  }),
  admin({
    method: 'post',
    path: '/exports',
    summary: 'Admin: export orders as CSV (a Temporal workflow)',
    description:
      'One row per order line. Progress: GET /exports/:id and `export.progress` on the admin channel. The export ' +
      'covers orders created before the request; cancel it in the Temporal UI (workflow `export-<exportId>`).',
    requestBody: { schema: createExportBodySchema, required: true },
    responses: {
      202: { description: 'Started', schema: exportCreatedSchema, headers: { Location: 'URL of the export' } },
    },
  }),
  admin({
    method: 'get',
    path: '/exports/:id',
    summary: 'Admin: status and progress of an export',
    parameters: [exportIdParam],
    responses: {
      200: { description: 'The export', schema: exportViewSchema },
      404: exportNotFound,
    },
  }),
  admin({
    method: 'get',
    path: '/exports/:id/download',
    summary: 'Admin: the CSV of a completed export (streamed)',
    description: `Columns: ${EXPORT_COLUMNS.join(', ')}. Cells starting with = + - @ tab or CR are prefixed with ', and so is such a character after ; tab CR or LF inside a cell (formula injection).`,
    parameters: [
      exportIdParam,
      {
        name: 'bom',
        in: 'query' as const,
        required: false,
        schema: exportDownloadQuerySchema.shape.bom,
        description: 'true: the CSV starts with a UTF-8 byte order mark, so Excel reads non-ASCII text as UTF-8',
      },
    ],
    responses: {
      200: { description: 'The CSV', schema: z.string(), contentType: 'text/csv' },
      404: exportNotFound,
      409: { description: 'The export has not completed', schema: exportNotReadySchema },
    },
  }),
]);

/** Responses of any path: unknown routes and wrong methods. */
export const GENERIC_RESPONSES: Record<number, ResponseDoc> = {
  404: { description: 'No such route', schema: notFoundSchema },
  405: { description: 'Method not allowed on this path (see the Allow header)', schema: methodNotAllowedSchema },
};

/** Converts a Koa path (`/orders/:id`) to OpenAPI form (`/orders/{id}`). */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

type JsonObject = Record<string, unknown>;

function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (typeof value !== 'object' || value === null) return value;
  const out: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] =
      key === '$ref' && typeof item === 'string'
        ? item.replace('#/$defs/', '#/components/schemas/')
        : rewriteRefs(item);
  }
  return out;
}

/** JSON Schema of a zod schema; named sub-schemas (`.meta({ id })`) are hoisted into `components`. */
function jsonSchema(schema: z.ZodType, components: JsonObject, io: 'input' | 'output'): JsonObject {
  const converted = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonObject;
  const { $schema: _schema, $defs, ...rest } = converted;
  for (const [id, def] of Object.entries(($defs as JsonObject | undefined) ?? {})) {
    components[id] = rewriteRefs(def);
  }
  return rewriteRefs(rest) as JsonObject;
}

function headersDoc(headers: Record<string, string> | undefined): JsonObject | undefined {
  if (headers === undefined) return undefined;
  return Object.fromEntries(
    Object.entries(headers).map(([name, description]) => [name, { description, schema: { type: 'string' } }]),
  );
}

/** Builds the whole OpenAPI 3.1 document. */
export function buildOpenApiDocument(): JsonObject {
  const components: JsonObject = {};
  const paths: Record<string, JsonObject> = {};
  for (const op of API_OPERATIONS) {
    const responses: JsonObject = {};
    for (const [status, response] of Object.entries(op.responses)) {
      responses[status] = {
        description: response.description,
        ...(response.headers !== undefined ? { headers: headersDoc(response.headers) } : {}),
        content: {
          [response.contentType ?? 'application/json']: { schema: jsonSchema(response.schema, components, 'output') },
        },
      };
    }
    const operation: JsonObject = {
      operationId: `${op.method}${openApiPath(op.path).replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase())}`,
      summary: op.summary,
      ...(op.description !== undefined ? { description: op.description } : {}),
      ...(op.auth ? { security: [{ bearerAuth: [] }] } : { security: [] }),
      ...(op.parameters !== undefined
        ? {
            parameters: op.parameters.map((p) => ({
              name: p.name,
              in: p.in,
              required: p.required,
              description: p.description,
              schema: jsonSchema(p.schema, components, 'input'),
            })),
          }
        : {}),
      ...(op.requestBody !== undefined
        ? {
            requestBody: {
              required: op.requestBody.required,
              content: { 'application/json': { schema: jsonSchema(op.requestBody.schema, components, 'input') } },
            },
          }
        : {}),
      responses,
    };
    const path = openApiPath(op.path);
    paths[path] = { ...(paths[path] ?? {}), [op.method]: operation };
  }
  for (const response of Object.values(GENERIC_RESPONSES)) jsonSchema(response.schema, components, 'output');
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'OrderFlow API',
      version: '1.0.0',
      description:
        'Orders as durable sagas on Temporal. Every error is `{ error, message, ...details }`; unknown routes answer ' +
        '404 and wrong methods 405 (`MethodNotAllowedError`, with an Allow header). Bodies are JSON, at most ' +
        `${MAX_BODY_BYTES} bytes; unknown fields and unknown query parameters are refused (400 naming them). Text ` +
        'must be storable: no U+0000, no unpaired UTF-16 surrogate and no bidirectional control (U+202A-U+202E, ' +
        'U+2066-U+2069) anywhere (body, header, query, token `sub`).',
    },
    paths,
    components: {
      schemas: components,
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
  };
}
