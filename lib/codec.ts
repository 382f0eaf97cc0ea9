/**
 * Payload encryption: a Temporal `PayloadCodec` that seals every payload with AES-256-GCM before it leaves the
 * process, so workflow inputs (the payment token), activity inputs and results, query and update results, signal
 * arguments and workflow results are ciphertext in Temporal's history, visibility exports and `temporal workflow show`.
 * We encrypt all payloads rather than picking the ones that carry payment data: nothing new can leak by accident, and
 * the codec server lets an authorised operator read them again. Search attributes and failure messages are not
 * payloads and stay readable (docs/security.md).
 *
 * Wire format, the same as Temporal's encryption samples: metadata `encoding: binary/encrypted` and
 * `encryption-key-id: <id>`, data `IV (12 random bytes) || ciphertext || GCM tag (16 bytes)` where the plaintext is
 * the original payload serialised as `temporal.api.common.v1.Payload` protobuf. The first configured key encrypts;
 * every configured key decrypts, which is how keys rotate.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { Config, PayloadCodecKey } from './config';
import { messageOf } from './error-text';
import { undecodablePayload } from './payload-converter';

/** `encoding` metadata of an encrypted payload. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';

/** Metadata key naming the key that encrypted a payload. */
export const KEY_ID_METADATA = 'encryption-key-id';

const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** Raised when a payload cannot be encrypted or decrypted; the message names the key id, never data. */
export class PayloadCodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadCodecError';
  }
}

/** The `encoding` of a payload, or undefined when it has none. */
function encodingOf(payload: Payload): string | undefined {
  const value = payload.metadata?.[METADATA_ENCODING_KEY];
  return value === undefined || value === null ? undefined : fromUtf8.decode(value);
}

/** Encrypts with the first key of `keys` and decrypts with any of them; rejects an empty list. */
export class EncryptionCodec implements PayloadCodec {
  private readonly active: PayloadCodecKey;
  private readonly byId: ReadonlyMap<string, PayloadCodecKey>;

  constructor(keys: readonly PayloadCodecKey[]) {
    const [active] = keys;
    if (active === undefined) throw new PayloadCodecError('the payload codec needs at least one key');
    this.active = active;
    this.byId = new Map(keys.map((key) => [key.id, key]));
  }

  /** Id of the key new payloads are encrypted with. */
  get activeKeyId(): string {
    return this.active.id;
  }

  // The Promise constructor turns a throw into a rejection, as callers of an async codec expect.
  encode(payloads: Payload[]): Promise<Payload[]> {
    return new Promise((resolve) => resolve(payloads.map((payload) => this.encrypt(payload))));
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return new Promise((resolve) => resolve(payloads.map((payload) => this.decrypt(payload))));
  }

  private encrypt(payload: Payload): Payload {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(CIPHER, this.active.key, iv, { authTagLength: TAG_BYTES });
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: utf8.encode(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: utf8.encode(this.active.id),
      },
      data: sealed,
    };
  }

  /**
   * Payloads that are not `binary/encrypted` pass through unchanged: histories written before encryption was turned
   * on keep replaying. An encrypted payload under a key id we do not hold, or one that fails authentication, throws.
   */
  private decrypt(payload: Payload): Payload {
    if (encodingOf(payload) !== ENCRYPTED_ENCODING) return payload;
    const rawKeyId = payload.metadata?.[KEY_ID_METADATA];
    if (rawKeyId === undefined || rawKeyId === null) {
      throw new PayloadCodecError(`an encrypted payload has no ${KEY_ID_METADATA} metadata`);
    }
    const keyId = fromUtf8.decode(rawKeyId);
    const key = this.byId.get(keyId);
    if (key === undefined) {
      throw new PayloadCodecError(
        `payload encrypted with unknown key id "${keyId}" (configured: ${[...this.byId.keys()].join(', ')}); ` +
          'add that key to PAYLOAD_CODEC_KEYS to decrypt it',
      );
    }
    const data = payload.data ?? new Uint8Array();
    if (data.length < IV_BYTES + TAG_BYTES) {
      throw new PayloadCodecError(`encrypted payload (key "${keyId}") is too short to hold an IV and a tag`);
    }
    const iv = data.subarray(0, IV_BYTES);
    const tag = data.subarray(data.length - TAG_BYTES);
    const decipher = createDecipheriv(CIPHER, key.key, iv, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(tag);
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new PayloadCodecError(`encrypted payload failed authentication with key "${keyId}" (tampered or corrupt)`);
    }
    const inner = temporal.api.common.v1.Payload.decode(plain);
    return {
      metadata: inner.metadata,
      // protobufjs leaves an absent bytes field as its default `[]`, not a Uint8Array
      data: inner.data instanceof Uint8Array ? inner.data : new Uint8Array(),
      ...(inner.externalPayloads.length > 0 ? { externalPayloads: inner.externalPayloads } : {}),
    };
  }
}

/**
 * The order worker's side of a codec: decodes each payload on its own, and puts an UNDECODABLE_ENCODING stand-in
 * (lib/payload-converter.ts, saying why) where one cannot be decoded, instead of failing the whole activation. A
 * signal typed by hand with `encoding=binary/encrypted` and no key, or under a key id nobody holds, then reaches the
 * workflow as an `UndecodablePayload` its handler ignores, instead of failing every attempt of the workflow task.
 * Where a stand-in may not be tolerated (a workflow's input, an activity's input or result) the worker's interceptors
 * still fail the task (workflows/interceptors.ts, worker/create-worker.ts). Encoding is unchanged.
 */
export function tolerantDecoding(codec: PayloadCodec): PayloadCodec {
  const decodeOne = async (payload: Payload): Promise<Payload> => {
    try {
      const [decoded] = await codec.decode([payload]);
      return decoded ?? undecodablePayload('the codec returned nothing');
    } catch (error) {
      return undecodablePayload(messageOf(error));
    }
  };
  return {
    encode: (payloads) => codec.encode(payloads),
    decode: (payloads) => Promise.all(payloads.map(decodeOne)),
  };
}

/** The encryption codec for the configured keys. */
export function createEncryptionCodec(config: Pick<Config, 'payloadCodecKeys'>): EncryptionCodec {
  return new EncryptionCodec(config.payloadCodecKeys);
}

/**
 * The data converter every Temporal client and worker of OrderFlow uses: the default JSON payload converter, then
 * encryption. A client without it cannot read what a worker with it wrote, so all sides take it from the same config.
 */
export function createDataConverter(config: Pick<Config, 'payloadCodecKeys'>): DataConverter {
  return { payloadCodecs: [createEncryptionCodec(config)] };
}
