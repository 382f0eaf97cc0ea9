/**
 * Query parameters, one mechanism for every route: each route declares the parameters it accepts as a strict zod
 * object next to its path (api/routes/index.ts; the relay's `/dev-token`), and `acceptQuery` (or `parseQuery`)
 * checks the request against it before the handler runs. An unknown parameter, a repeated one, or a value that fails its schema (every value is storable
 * text, lib/text-schema.ts) is a 400 naming the parameter; a route that declares none refuses any.
 */
import type { ParsedUrlQuery } from 'node:querystring';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { storableTextIssue } from '../storable-text';
import { validationError } from './errors';
import { parseOrThrow } from './validate';

/** The query of a route that takes no parameters. */
export const NO_QUERY = z.strictObject({});

/** A route's query schema: a strict object of optional parameters, each parsed from one string. */
export type QuerySchema = z.ZodObject<Record<string, z.ZodType<unknown, string | undefined>>, z.core.$strict>;

/** Koa state after `acceptQuery`: the validated parameters. */
export interface QueryState<Q> {
  query: Q;
}

/**
 * Parses a request's query with `schema`, or throws a 400 naming the first offending parameter: repeated
 * (`?a=1&a=2`), unknown, unstorable or invalid. Names are checked too: an empty name, or one PostgreSQL could not
 * store, is refused as `query` before it could be echoed back in an error.
 */
export function parseQuery<S extends QuerySchema>(schema: S, query: ParsedUrlQuery): z.output<S> {
  for (const [name, value] of Object.entries(query)) {
    const nameIssue = name === '' ? 'must not be empty' : storableTextIssue(name);
    if (nameIssue !== undefined) throw validationError('query', `a parameter name ${nameIssue}`);
    if (Array.isArray(value)) throw validationError(name, 'must be given once');
    // Whatever the route's schema says about the value, it is never text PostgreSQL cannot store.
    const valueIssue = value === undefined ? undefined : storableTextIssue(value);
    if (valueIssue !== undefined) throw validationError(name, valueIssue);
  }
  return parseOrThrow(schema, { ...query }, '', 'unknown query parameter');
}

/** Every middleware `acceptQuery` made, so a test can check that no route skips it. */
const queryChecks = new WeakSet<object>();

/** True when `middleware` is a query check made by `acceptQuery`. */
export function isQueryCheck(middleware: unknown): boolean {
  return typeof middleware === 'function' && queryChecks.has(middleware);
}

/** Middleware: checks the query against the route's schema and puts the parsed parameters in `ctx.state.query`. */
export function acceptQuery<S extends QuerySchema>(schema: S): Middleware<QueryState<z.output<S>>> {
  const check: Middleware<QueryState<z.output<S>>> = async (ctx, next) => {
    ctx.state.query = parseQuery(schema, ctx.query);
    await next();
  };
  queryChecks.add(check);
  return check;
}

/** Encodes `text` as an opaque page cursor (base64url, RFC 4648 section 5, no padding). */
export function encodeCursorText(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

/**
 * The text inside a page cursor, or undefined when `raw` is not the exact form `encodeCursorText` writes. Node's
 * base64 decoder skips characters outside the alphabet and accepts non-canonical final bits, so several strings decode
 * alike; only the canonical one, which re-encodes to itself, is taken as a cursor the API issued.
 */
export function decodeCursorText(raw: string): string | undefined {
  const text = Buffer.from(raw, 'base64url').toString('utf8');
  return encodeCursorText(text) === raw ? text : undefined;
}
