/**
 * The mixed load of a chaos run over the real HTTP API: every kind of payment token, unknown SKUs and scarce stock,
 * random cancels, repeated Idempotency-Keys. A keyed request that gets a 5xx or nothing is retried after Retry-After,
 * as a client should; an unkeyed one is not (its order may or may not exist). Every 5xx is recorded with its times.
 */
import { signToken } from '../lib/auth';
import { callApi, type ApiAnswer } from '../bench/support/http';
import { paced } from '../bench/support/load';
import { messageOf } from '../lib/error-text';
import { sleep } from '../lib/sleep';
import type { ChaosOptions, Random } from './options';
import { CHAOS_CATALOG, type Secret } from './stack';

/** The payment tokens of the mix (docs/design.md, Payment simulator); `random` is any other token. */
export const TOKEN_WEIGHTS = {
  tok_ok: 30,
  tok_decline: 10,
  tok_flaky: 15,
  tok_unavailable: 8,
  tok_slow: 12,
  random: 25,
} as const;

/** A kind of payment token in the mix. */
export type TokenKind = keyof typeof TOKEN_WEIGHTS;

/** The token kinds, in TOKEN_WEIGHTS's order. */
export const TOKEN_KINDS = Object.keys(TOKEN_WEIGHTS) as TokenKind[];

/** A POST /orders body. */
export type OrderRequestBody = { items: { sku: string; quantity: number }[]; payment: { token: string } };

/** What happened to one order the load placed. */
export interface PlacedOrder {
  index: number;
  customerId: string;
  tokenKind: TokenKind;
  /** Never printed; the log scan looks for it. */
  token: string;
  idempotencyKey: string | undefined;
  body: OrderRequestBody;
  /** rejected: 409/422 naming the REJECTED order; unacknowledged: 5xx or no answer after any retries. */
  outcome: 'accepted' | 'rejected' | 'unacknowledged' | 'refused';
  status: number;
  orderId: string | undefined;
  attempts: number;
}

/** One repeat of an Idempotency-Key and what came back. */
export interface RepeatRecord {
  idempotencyKey: string;
  kind: 'same_body' | 'other_body';
  expectedOrderId: string;
  status: number;
  orderId: string | undefined;
  error: string | undefined;
}

/** One cancel request and its answer. */
export type CancelRecord = { orderId: string; status: number; error: string | undefined };

/** An answer the API contract does not allow for that request (e.g. a 404 for the customer's own order), ended `at`. */
export type UnexpectedAnswer = { method: string; path: string; status: number; error: string | undefined; at: number };

/** A request answered with a 5xx (or not at all: status 0), for the outage classification. */
export type ServerErrorRecord = UnexpectedAnswer & { sentAt: number; retryAfter: string | undefined };

/** Everything the load observed; `answers` counts requests by `<METHOD> <route> <status>`. */
export interface LoadRecords {
  orders: PlacedOrder[];
  repeats: RepeatRecord[];
  cancels: CancelRecord[];
  serverErrors: ServerErrorRecord[];
  unexpected: UnexpectedAnswer[];
  answers: Map<string, number>;
  requests: number;
  inFlight: number;
}

/** A customer of the run. */
export type Customer = { id: string; token: string };

/** What the load needs; `onOrder` is told each order id as soon as it is known (the socket clients follow it). */
export interface LoadOptions extends Pick<ChaosOptions, 'orders' | 'ratePerSecond' | 'seed'> {
  apiUrl: string;
  /** Hard end of the load phase (ms since epoch): no new order after it. */
  deadline: number;
  customers: readonly Customer[];
  random: Random;
  signal: AbortSignal;
  onOrder: (customerId: string, orderId: string) => void;
}

/** How long one request may take before it counts as unanswered (the API's own Temporal deadline is 15 s). */
const REQUEST_TIMEOUT_MS = 30_000;
/** Attempts of a keyed POST or a cancel that keeps getting 503s or no answer. */
const MAX_ATTEMPTS = 8;
/** No retry starts later than this after the load's deadline, so the load phase ends in bounded time. */
const RETRY_GRACE_MS = 30_000;
/** Orders in flight at most (placing + follow-ups). */
const MAX_IN_FLIGHT = 40;
/** An SKU that is not in the catalog. */
const UNKNOWN_SKU = 'CHAOS-NO-SUCH-THING';

/** `POST /orders/:id/cancel` for `POST /orders/<uuid>/cancel`. */
export function requestRoute(method: string, requestPath: string): string {
  return `${method} ${requestPath.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/gi, ':id')}`;
}

/** A definitive refusal that still names the (REJECTED) order. */
export const rejectedAnswer = ({ status, error }: { status: number; error: string | undefined }): boolean =>
  (status === 409 && error === 'insufficient_stock') || (status === 422 && error === 'unknown_sku');

/** `<status> <error code>`, for reports. */
export const answerText = (status: number | string, error: string | undefined): string =>
  error === undefined ? `${status}` : `${status} ${error}`;

/** The customers of a run, each with a token signed with the run's JWT_SECRET. */
export function createCustomers(count: number, seed: number, jwtSecret: string): Customer[] {
  return Array.from({ length: count }, (_, index) => {
    const id = `chaos-${seed}-customer-${index + 1}`;
    return { id, token: signToken(id, jwtSecret, { expiresIn: '6h' }) };
  });
}

/** Starts the load; `done` settles once every request (follow-ups included) is done. */
export function startLoad(options: LoadOptions) {
  const { random, signal, customers } = options;
  const records: LoadRecords = {
    orders: [],
    repeats: [],
    cancels: [],
    serverErrors: [],
    unexpected: [],
    answers: new Map(),
    requests: 0,
    inFlight: 0,
  };
  const tokensUsed = new Set<string>();
  const transient = (answer: ApiAnswer): boolean => answer.status === 0 || answer.status >= 500;
  const unexpected = (method: string, path: string, { status, error }: Pick<ApiAnswer, 'status' | 'error'>): void => {
    records.unexpected.push({ method, path, status, error, at: Date.now() });
  };

  /** One request, counted; with `retry`, sent again while it gets a 5xx or nothing, Retry-After (1-10 s) apart. */
  const request = async (
    method: string,
    path: string,
    token: string,
    retry: boolean,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<[ApiAnswer, number]> => {
    for (let attempts = 1; ; attempts += 1) {
      const sentAt = Date.now();
      records.requests += 1;
      const call = { token, body, headers, timeoutMs: REQUEST_TIMEOUT_MS, signal };
      const answer = await callApi(options.apiUrl, method, path, call);
      const key = `${requestRoute(method, path)} ${answer.status === 0 ? 'no answer' : answer.status}`;
      records.answers.set(key, (records.answers.get(key) ?? 0) + 1);
      if (transient(answer)) {
        const { status, retryAfter, error } = answer;
        records.serverErrors.push({ method, path, status, sentAt, at: Date.now(), retryAfter, error });
      }
      const late = Date.now() > options.deadline + RETRY_GRACE_MS;
      if (!retry || !transient(answer) || attempts >= MAX_ATTEMPTS || late || signal.aborted) return [answer, attempts];
      const seconds = Number(answer.retryAfter ?? '2');
      await sleep(Math.min(10, Math.max(1, Number.isFinite(seconds) ? seconds : 2)) * 1000);
    }
  };

  const orderIdOf = (answer: ApiAnswer): string | undefined =>
    typeof answer.body.orderId === 'string' ? answer.body.orderId : undefined;

  const bodyFor = (token: string): OrderRequestBody => {
    const plentiful = CHAOS_CATALOG.filter((p) => p.stock >= 1000);
    const scarce = CHAOS_CATALOG.filter((p) => p.stock < 1000);
    const lines = new Map<string, number>();
    const wanted = { one: 1, two: 2, three: 3 }[random.weighted({ one: 60, two: 30, three: 10 })];
    while (lines.size < wanted) lines.set(random.pick(plentiful).sku, random.int(1, 3));
    if (scarce.length > 0 && random.chance(0.12)) lines.set(random.pick(scarce).sku, random.int(2, 4));
    if (random.chance(0.03)) lines.set(UNKNOWN_SKU, 1);
    return { items: [...lines].map(([sku, quantity]) => ({ sku, quantity })), payment: { token } };
  };

  const repeat = async (order: PlacedOrder, customer: Customer, kind: RepeatRecord['kind']): Promise<void> => {
    const key = order.idempotencyKey;
    if (key === undefined || order.orderId === undefined) return;
    const { items } = order.body;
    const body =
      kind === 'same_body'
        ? order.body
        : { ...order.body, items: items.map((item, i) => (i === 0 ? { ...item, quantity: item.quantity + 1 } : item)) };
    const [answer] = await request('POST', '/orders', customer.token, true, body, { 'Idempotency-Key': key });
    const { status, error } = answer;
    records.repeats.push({
      idempotencyKey: key,
      kind,
      expectedOrderId: order.orderId,
      status,
      orderId: orderIdOf(answer),
      error,
    });
  };

  const cancel = async (orderId: string, customer: Customer): Promise<void> => {
    const path = `/orders/${orderId}/cancel`;
    const [answer] = await request('POST', path, customer.token, true);
    records.cancels.push({ orderId, status: answer.status, error: answer.error });
    const allowed = answer.status === 202 || (answer.status === 409 && answer.error === 'not_cancellable');
    if (!allowed && !transient(answer)) unexpected('POST', path, answer);
  };

  const look = async (orderId: string, customer: Customer): Promise<void> => {
    const path = `/orders/${orderId}`;
    const [answer] = await request('GET', path, customer.token, false);
    if (answer.status !== 200 && !transient(answer)) unexpected('GET', path, answer);
  };

  const place = async (index: number): Promise<void> => {
    const customer = random.pick(customers);
    // The first orders take every kind once, so even a short run covers them all; the rest follow the weights.
    const tokenKind = TOKEN_KINDS[index] ?? random.weighted(TOKEN_WEIGHTS);
    const token = tokenKind === 'random' ? `pm_${random.hex(24)}` : tokenKind;
    tokensUsed.add(token);
    const idempotencyKey = random.chance(0.85) ? `chaos-${options.seed}-order-${index}` : undefined;
    const body = bodyFor(token);
    const headers: Record<string, string> = idempotencyKey === undefined ? {} : { 'Idempotency-Key': idempotencyKey };
    const keyed = idempotencyKey !== undefined;
    const [answer, attempts] = await request('POST', '/orders', customer.token, keyed, body, headers);
    const orderId = orderIdOf(answer);
    const outcome: PlacedOrder['outcome'] =
      answer.status === 201 && orderId !== undefined
        ? 'accepted'
        : rejectedAnswer(answer) && orderId !== undefined
          ? 'rejected'
          : transient(answer)
            ? 'unacknowledged'
            : 'refused';
    const order: PlacedOrder = {
      index,
      customerId: customer.id,
      tokenKind,
      token,
      idempotencyKey,
      body,
      outcome,
      status: answer.status,
      orderId,
      attempts,
    };
    records.orders.push(order);
    if (outcome === 'refused') unexpected('POST', '/orders', answer);
    if (orderId === undefined || (outcome !== 'accepted' && outcome !== 'rejected')) return;
    options.onOrder(customer.id, orderId);

    // Follow-ups, each after a random delay (ms): a cancel, a look, repeats of the key.
    const later = (maxDelay: number, action: () => Promise<void>): Promise<void> =>
      sleep(random.int(0, maxDelay)).then(action);
    const followUps: Promise<void>[] = [];
    if (outcome === 'accepted' && random.chance(0.22)) followUps.push(later(5000, () => cancel(orderId, customer)));
    if (outcome === 'accepted' && random.chance(0.3)) followUps.push(later(6000, () => look(orderId, customer)));
    if (idempotencyKey !== undefined && random.chance(0.3)) {
      const delay = random.int(0, 8000);
      const times = random.chance(0.2) ? 2 : 1; // sometimes two repeats at once
      for (let i = 0; i < times; i += 1) followUps.push(sleep(delay).then(() => repeat(order, customer, 'same_body')));
    }
    if (idempotencyKey !== undefined && random.chance(0.05)) {
      followUps.push(later(4000, () => repeat(order, customer, 'other_body')));
    }
    await Promise.all(followUps);
  };

  const done = paced(
    {
      count: options.orders,
      rate: options.ratePerSecond,
      maxInFlight: MAX_IN_FLIGHT,
      whenFull: 'wait',
      signal,
      deadline: options.deadline,
    },
    async (index) => {
      records.inFlight += 1;
      try {
        await place(index);
      } catch (error) {
        unexpected('LOAD', `order ${index}`, { status: -1, error: messageOf(error) });
      } finally {
        records.inFlight -= 1;
      }
    },
  ).then(() => undefined);

  return {
    records,
    done,
    /** Tokens and JWTs the load used, for the log scan. */
    secrets: (): Secret[] => [
      ...customers.map((customer) => ({ label: `JWT of ${customer.id}`, value: customer.token })),
      ...[...tokensUsed].map((token) => ({
        label: token.startsWith('pm_') ? 'a random payment token' : `payment token ${token}`,
        value: token,
      })),
    ],
  };
}
