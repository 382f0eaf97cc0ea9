/**
 * Reads request bodies with `raw-body`: bounded (-> 413 `payload_too_large`), not content-coded (-> 415), and for
 * JSON `application/json` only (-> 415), strict UTF-8 and well-formed JSON (-> 400 `invalid_json`). Nothing is parsed
 * before these checks pass.
 */
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import { ApiError } from './errors';
import { singleHeader } from './headers';

/** Largest JSON body the API accepts, in bytes (docs/design.md: bodies over 64 KiB are refused with 413). */
export const MAX_BODY_BYTES = 64 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isRawBodyError(error: unknown): error is { type: string; status: number; message: string } {
  return typeof error === 'object' && error !== null && 'type' in error && 'status' in error;
}

/** 413 before reading anything when Content-Length already says the body is too large. */
function refuseDeclaredLength(ctx: Context, limit: number): void {
  const declared = ctx.request.length;
  if (declared !== undefined && declared > limit) {
    throw new ApiError('payload_too_large', `request body is ${declared} bytes; the limit is ${limit} bytes`, {
      limit,
    });
  }
}

/**
 * 415 for a body sent with a content coding (`Content-Encoding: gzip`, `br`, ...): we read bodies as they are, so a
 * coded body would be read as its compressed bytes, and a plain one labelled as coded read as something its sender
 * did not mean. RFC 9110 section 8.4 (https://www.rfc-editor.org/rfc/rfc9110#section-8.4): a server MAY answer 415
 * to a content coding it does not accept. `identity` (no coding) is fine.
 */
function refuseContentCoding(ctx: Context): void {
  const codings = ctx.request
    .get('Content-Encoding')
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
  if (codings.length > 0) {
    throw new ApiError(
      'unsupported_media_type',
      `Content-Encoding ${codings.join(', ')} is not accepted; send the body uncompressed`,
    );
  }
}

/**
 * Reads the body as bytes, at most `limit` of them (413 `payload_too_large` beyond, with `limit` in the details;
 * 415 `unsupported_media_type` when it carries a content coding).
 */
export async function readBody(ctx: Context, limit: number = MAX_BODY_BYTES): Promise<Buffer> {
  refuseDeclaredLength(ctx, limit);
  refuseContentCoding(ctx);
  try {
    return await getRawBody(ctx.req, { limit, length: ctx.request.get('Content-Length') || null });
  } catch (error) {
    if (isRawBodyError(error) && error.type === 'entity.too.large') {
      throw new ApiError('payload_too_large', `request body exceeds the limit of ${limit} bytes`, { limit });
    }
    if (isRawBodyError(error) && error.status < 500) {
      throw new ApiError('invalid_json', `request body could not be read: ${error.message}`);
    }
    throw error;
  }
}

/** Reads and parses the body as JSON (at most `limit` bytes); the caller validates the shape. */
export async function readJsonBody(ctx: Context, limit: number = MAX_BODY_BYTES): Promise<unknown> {
  refuseDeclaredLength(ctx, limit);
  // Node keeps the first of two Content-Type lines; which one the client meant is ambiguous, so neither is read.
  singleHeader(
    ctx.req,
    'Content-Type',
    () => new ApiError('unsupported_media_type', 'Content-Type must be given once'),
  );
  if (!ctx.request.is('application/json')) {
    const type = ctx.request.type === '' ? 'none' : ctx.request.type;
    throw new ApiError('unsupported_media_type', `Content-Type must be application/json (got ${type})`);
  }
  const charset = ctx.request.charset;
  if (charset !== '' && !/^utf-?8$/i.test(charset)) {
    throw new ApiError('unsupported_media_type', `charset must be utf-8 (got ${charset})`);
  }
  const raw = await readBody(ctx, limit);
  if (raw.length === 0) throw new ApiError('invalid_json', 'request body is empty; expected a JSON object');
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new ApiError('invalid_json', 'request body is not valid UTF-8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'unparseable';
    throw new ApiError('invalid_json', `request body is not valid JSON (${reason})`);
  }
}

/**
 * Reads an optional JSON body: `{}` when the request carries none (no Content-Length, or 0, and no
 * Transfer-Encoding), else exactly as `readJsonBody` (415 for another Content-Type, 400 for bytes that are not JSON;
 * a body `null` stays `null`). A route with an optional body parses the result with its strict schema, so anything
 * but no body or a body its schema accepts is refused before the route changes anything.
 */
export function readOptionalJsonBody(ctx: Context, limit: number = MAX_BODY_BYTES): Promise<unknown> {
  const hasBody = (ctx.request.length ?? 0) > 0 || ctx.get('Transfer-Encoding') !== '';
  return hasBody ? readJsonBody(ctx, limit) : Promise.resolve({});
}
