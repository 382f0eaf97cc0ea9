/**
 * Reads the deployment's events stream (`redisKeys().eventsStream`) in order with XREAD BLOCK on a dedicated
 * connection. It starts at the stream's tail (what `$` means, but pinned to an id so nothing published after
 * `start()` resolves can slip by), remembers the last id it handled, and survives Redis going away: it backs off,
 * and when Redis answers again it reports the outage (so the relay can catch up from PostgreSQL) and resumes from
 * its last id, or from the beginning of the stream when Redis came back empty.
 */
import type Redis from 'ioredis';
import type { OrderEvent } from '../lib/events';
import type { Logger } from '../lib/logger';

/** Options of `createStreamReader`. */
export interface StreamReaderOptions {
  /** A connection for this reader alone (it blocks); the reader disconnects it on `close()`. */
  redis: Redis;
  /** The stream key. */
  streamKey: string;
  logger: Logger;
  /** Handles one event; awaited before the next, so events reach it in stream order. */
  onEvent: (event: OrderEvent) => Promise<void>;
  /** Called once Redis answers again after an outage, before reading on; `since` is when the outage began. */
  onRecovered: (since: Date) => Promise<void>;
  /** How long one XREAD blocks. @default 5000 */
  blockMs?: number;
  /** Entries per XREAD. @default 500 */
  count?: number;
  /** First retry delay after Redis fails. @default 100 */
  minBackoffMs?: number;
  /** Longest retry delay. @default 5000 */
  maxBackoffMs?: number;
}

/** What `/health` shows of the reader. */
export interface StreamReaderState {
  connected: boolean;
  lastId: string | undefined;
  outageSince: string | undefined;
}

/** A running stream reader. */
export interface StreamReader {
  /** Starts reading; resolves once the start position is fixed (retrying while Redis is down). */
  start(): Promise<void>;
  /** Stops reading and disconnects the reader's connection. */
  close(): Promise<void>;
  state(): StreamReaderState;
}

/** Compares two stream ids (`ms-seq`) numerically. */
export function compareStreamIds(a: string, b: string): number {
  const [aMs = 0n, aSeq = 0n] = a.split('-').map((part) => BigInt(part));
  const [bMs = 0n, bSeq = 0n] = b.split('-').map((part) => BigInt(part));
  if (aMs !== bMs) return aMs < bMs ? -1 : 1;
  if (aSeq !== bSeq) return aSeq < bSeq ? -1 : 1;
  return 0;
}

function parseEntry(fields: string[]): OrderEvent | undefined {
  const index = fields.indexOf('event');
  const raw = index >= 0 ? fields[index + 1] : undefined;
  if (raw === undefined) return undefined;
  const value = JSON.parse(raw) as Partial<OrderEvent>;
  if (typeof value.orderId !== 'string' || typeof value.customerId !== 'string' || !Number.isInteger(value.seq)) {
    return undefined;
  }
  return value as OrderEvent;
}

/** Builds a reader; nothing happens until `start()`. */
export function createStreamReader(options: StreamReaderOptions): StreamReader {
  const { redis, streamKey, logger, onEvent, onRecovered } = options;
  const blockMs = options.blockMs ?? 5000;
  const count = options.count ?? 500;
  const minBackoffMs = options.minBackoffMs ?? 100;
  const maxBackoffMs = options.maxBackoffMs ?? 5000;

  let lastId: string | undefined;
  let outageSince: Date | undefined;
  let connected = false;
  let closed = false;
  let loop: Promise<void> | undefined;
  let positioned: (() => void) | undefined;
  let wakeUp: (() => void) | undefined;

  const tail = async (): Promise<string> => {
    const [last] = await redis.xrevrange(streamKey, '+', '-', 'COUNT', 1);
    return last?.[0] ?? '0-0';
  };

  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      }
      wakeUp = done;
    });

  const recover = async (since: Date): Promise<void> => {
    const end = await tail();
    if (lastId !== undefined && compareStreamIds(end, lastId) < 0) {
      // Redis came back without our position (restarted without persistence, or the key was deleted).
      logger.warn('events stream was reset; reading it from the beginning', { streamKey, lastId, tail: end });
      lastId = '0-0';
    }
    try {
      await onRecovered(since);
    } catch (error) {
      // The catch-up is best effort: clients still recover through subscribe + lastSeq, so read on regardless.
      logger.error('catch-up after the events stream outage failed', { streamKey, error });
    }
    logger.info('events stream reader recovered', { streamKey, outageMs: Date.now() - since.getTime() });
  };

  const run = async (): Promise<void> => {
    let backoffMs = minBackoffMs;
    while (!closed) {
      try {
        if (lastId === undefined) {
          lastId = await tail();
          // Failing to reach Redis before the first position is no outage to catch up on: nothing was read yet.
          outageSince = undefined;
          positioned?.();
        } else if (outageSince !== undefined) {
          await recover(outageSince);
          outageSince = undefined;
        }
        connected = true;
        backoffMs = minBackoffMs;
        const result = await redis.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', streamKey, lastId);
        for (const [id, fields] of result?.[0]?.[1] ?? []) {
          lastId = id;
          let event: OrderEvent | undefined;
          try {
            event = parseEntry(fields);
          } catch {
            event = undefined;
          }
          if (event === undefined) {
            logger.warn('skipping a malformed events stream entry', { streamKey, id });
            continue;
          }
          await onEvent(event);
        }
      } catch (error) {
        if (closed) break;
        connected = false;
        if (outageSince === undefined) {
          outageSince = new Date();
          logger.warn('events stream unavailable; retrying with backoff', { streamKey, error });
        }
        await pause(Math.round(backoffMs * (0.5 + Math.random() / 2)));
        backoffMs = Math.min(backoffMs * 2, maxBackoffMs);
      }
    }
  };

  return {
    start() {
      if (loop !== undefined) throw new Error('stream reader already started');
      const ready = new Promise<void>((resolve) => {
        positioned = resolve;
      });
      loop = run();
      return Promise.race([ready, loop]);
    },
    async close() {
      closed = true;
      positioned?.();
      wakeUp?.();
      redis.disconnect();
      await loop;
    },
    state() {
      return { connected, lastId, outageSince: outageSince?.toISOString() };
    },
  };
}
