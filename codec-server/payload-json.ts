/**
 * The codec server protocol's body, `{ payloads: [{ metadata: { key: base64 }, data: base64 }] }`: the proto3 JSON
 * form of `temporal.api.common.v1.Payloads` that the Temporal Web UI and CLI send and expect back.
 */
import type { Payload } from '@temporalio/common';
import { z } from 'zod';
import { parseOrThrow } from '../lib/http/validate';

/** Most payloads one request may carry; the Web UI sends one event's payloads at a time. */
export const MAX_PAYLOADS_PER_REQUEST = 1000;

/** Base64, standard or URL-safe alphabet, padding optional (proto3 JSON parsers accept both). */
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

const base64 = z.string().regex(BASE64, { error: 'must be base64' });

const payloadsBodySchema = z.object({
  payloads: z
    .array(
      z.object({
        metadata: z.record(z.string(), base64).optional(),
        data: base64.optional(),
      }),
    )
    .max(MAX_PAYLOADS_PER_REQUEST)
    // proto3 JSON leaves an empty repeated field out: `{}` is zero payloads (the CLI sends it for a signal or query
    // without arguments).
    .default([]),
});

/** The JSON form of one payload. */
export interface PayloadJson {
  metadata: Record<string, string>;
  data?: string;
}

/** Parses a request body into payloads; 400 `validation_failed` naming the first bad field (`payloads[0].data`). */
export function payloadsFromJson(body: unknown): Payload[] {
  return parseOrThrow(payloadsBodySchema, body).payloads.map((payload) => ({
    metadata: Object.fromEntries(
      Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')]),
    ),
    data: Buffer.from(payload.data ?? '', 'base64'),
  }));
}

/** Serialises payloads to their JSON form (standard base64, as protobuf's JSON mapping writes bytes). */
export function payloadsToJson(payloads: Payload[]): { payloads: PayloadJson[] } {
  return {
    payloads: payloads.map((payload) => ({
      metadata: Object.fromEntries(
        Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
      ),
      ...(payload.data && payload.data.length > 0 ? { data: Buffer.from(payload.data).toString('base64') } : {}),
    })),
  };
}
