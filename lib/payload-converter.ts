/**
 * The order worker's payload converter: Temporal's default one (JSON, binary, null), except that a payload it cannot
 * read becomes an `UndecodablePayload` value instead of an error.
 *
 * Why: a signal or update typed by hand in the Temporal UI or CLI can carry a payload no converter reads
 * (`--input-meta encoding=json/bogus`, bytes that are not JSON, `encoding=binary/encrypted` on plain text). With the
 * default converter, converting such a signal's arguments throws inside the workflow task, so every attempt of that
 * task fails and the order is stuck until someone terminates it. With this one, the handler receives an
 * `UndecodablePayload` and deals with it like any other bad payload (workflows/signal-payloads.ts). The payload codec's
 * side of the same fault is `tolerantDecoding` (lib/codec.ts): a payload it cannot decrypt reaches this converter as
 * an UNDECODABLE_ENCODING payload.
 *
 * Loaded by path (`PAYLOAD_CONVERTER_PATH`, worker/create-worker.ts) into the workflow bundle and the worker, so it
 * runs inside the workflow sandbox: deterministic, no Node.js APIs (TextEncoder/TextDecoder are provided there).
 * Clients (the API) keep the default converter: what they read comes from our own worker.
 */
import {
  defaultPayloadConverter,
  METADATA_ENCODING_KEY,
  type Payload,
  type PayloadConverter,
} from '@temporalio/common';

/** `encoding` of the stand-in `tolerantDecoding` puts where a payload could not be decrypted; its data says why. */
export const UNDECODABLE_ENCODING = 'binary/x-orderflow-undecodable';

/** A payload the worker could not read; `why` names the cause (never the payload's bytes). */
export class UndecodablePayload {
  constructor(readonly why: string) {}
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The stand-in for a payload that could not be decoded: UNDECODABLE_ENCODING, `why` as UTF-8 data. */
export function undecodablePayload(why: string): Payload {
  return { metadata: { [METADATA_ENCODING_KEY]: encoder.encode(UNDECODABLE_ENCODING) }, data: encoder.encode(why) };
}

/** True when `value` (a handler's argument) is a payload the worker could not read. */
export function isUndecodable(value: unknown): value is UndecodablePayload {
  return value instanceof UndecodablePayload;
}

/** Temporal's default converter; what it cannot read becomes an `UndecodablePayload` (see the module comment). */
export const payloadConverter: PayloadConverter = {
  toPayload: (value) => defaultPayloadConverter.toPayload(value),
  // Every payload the workflow reads passes here: the default converter first, so a readable one costs nothing more.
  fromPayload<T>(payload: Payload): T {
    try {
      return defaultPayloadConverter.fromPayload<T>(payload);
    } catch (error) {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      const why =
        encoding != null && decoder.decode(encoding) === UNDECODABLE_ENCODING
          ? decoder.decode(payload.data ?? new Uint8Array()) // the codec's stand-in says why
          : error instanceof Error
            ? error.message
            : String(error);
      return new UndecodablePayload(why) as T;
    }
  },
};
