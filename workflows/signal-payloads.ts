/**
 * Signal payloads are a boundary: operators type them by hand in the Temporal UI and CLI
 * (`temporal workflow signal --name cancel --input '...'`), so a handler sees whatever JSON was sent, not the declared
 * type. Nothing here throws (a throwing handler fails the workflow task); a bad payload is normalised or ignored with a
 * log line, and nothing is ever stored raw.
 */
import { log } from '@temporalio/workflow';
import { isUndecodable } from '../lib/payload-converter';
import { MAX_REASON_LENGTH, normaliseStorableText } from '../lib/storable-text';

/**
 * The reason carried by a `cancel` signal's argument (`{ reason?: string }`), made storable: at most
 * MAX_REASON_LENGTH characters, U+0000 and lone surrogates replaced. Undefined when the payload carries no usable
 * reason (absent, not an object, unreadable, a non-string reason, an empty one); unknown fields are ignored. Logs every
 * payload it had to change or ignore.
 */
export function cancelReasonFrom(args: unknown, orderId: string): string | undefined {
  if (args === undefined || args === null) return undefined;
  if (warnUndecodable('cancel', args, orderId)) return undefined;
  if (typeof args !== 'object' || Array.isArray(args)) {
    log.warn('cancel signal payload is not an object; cancelling without its reason', { orderId, type: typeof args });
    return undefined;
  }
  const fields = Object.keys(args);
  const unknown = fields.filter((field) => field !== 'reason');
  if (unknown.length > 0) log.warn('cancel signal payload has unknown fields; ignored', { orderId, fields: unknown });
  const raw: unknown = (args as { reason?: unknown }).reason;
  if (raw === undefined) return undefined;
  const reason = normaliseStorableText(raw, MAX_REASON_LENGTH);
  if (reason !== raw) {
    log.warn('cancel reason normalised (not a string, empty, too long or not storable)', {
      orderId,
      type: typeof raw,
      length: typeof raw === 'string' ? raw.length : undefined,
    });
  }
  return reason;
}

/**
 * Logs (warn) a signal argument the worker could not read (`UndecodablePayload`: an unknown encoding, bytes that are
 * not JSON, an encrypted payload without a key we hold; lib/payload-converter.ts) and returns true; false for any other
 * value. The signal itself still counts: its name is the operator's intent, its payload only details.
 */
export function warnUndecodable(signal: string, args: unknown, orderId: string): boolean {
  if (!isUndecodable(args)) return false;
  log.warn(`${signal} signal payload could not be decoded; its payload is ignored`, { orderId, why: args.why });
  return true;
}
