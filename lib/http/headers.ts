/**
 * Reading a header the API allows once. Node joins repeated lines of most headers into one value (`Idempotency-Key:
 * k1` and `Idempotency-Key: k2` read as `"k1, k2"`) and silently keeps the first line of others (Authorization,
 * Content-Type), so neither `req.headers` nor `ctx.get` can tell a repeat from one value; `req.headersDistinct` can.
 */
import type { IncomingMessage } from 'node:http';
import type { ApiError } from './errors';

/**
 * The value of header `name` (any case), or undefined when the request has none; throws `refuse()` (the caller's 4xx
 * naming the header) when it came more than once, so an ambiguous request is refused rather than read as one value.
 */
export function singleHeader(req: IncomingMessage, name: string, refuse: () => ApiError): string | undefined {
  const values = req.headersDistinct[name.toLowerCase()];
  if (values === undefined || values.length === 0) return undefined;
  if (values.length > 1) throw refuse();
  return values[0];
}
