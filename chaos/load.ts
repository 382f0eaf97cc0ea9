/**
 * The mixed load of a chaos run, over the real HTTP API: orders from several customers with every kind of payment
 * token, unknown SKUs and scarce stock, random cancels at random moments, and repeated Idempotency-Keys (same body:
 * the same order is expected back; another body: 422 `idempotency_key_reused` naming the same order). A keyed
 * request that gets a 5xx or no answer is retried after Retry-After, as a well-behaved client does; an unkeyed one is
 * not (its order may or may not exist, which the checks allow for). Every 5xx and every unanswered request is
 * recorded with its time, so the checks can hold it against the fault windows.
 */
import { signToken } from '../lib/auth';
import { requestRoute } from './checks';
import type { Random } from './options';
import type { CatalogProduct, Secret } from './stack';

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

/** A POST /orders body. */
export interface OrderRequestBody {
  items: { sku: string; quantity: number }[];
  payment: { token: string };
}

/** What happened to one order the load placed. */
export interface PlacedOrder {
  index: number;
  customerId: string;
  tokenKind: TokenKind;
  /** The payment token itself (never printed; the log scan looks for it). */
  token: string;
  idempotencyKey: string | undefined;
  body: OrderRequestBody;
  /**
   * accepted: 201; rejected: 409/422 naming the REJECTED order; unacknowledged: no definitive answer (an unkeyed
   * request that got a 503 or nothing, or a keyed one that ran out of retries); refused: any other answer.
   */
  outcome: 'accepted' | 'rejected' | 'unacknowledged' | 'refused';
  status: number;
  orderId: string | undefined;
  /** POST attempts (retries after 503 included). */
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
export interface CancelRecord {
  orderId: string;
  status: number;
  error: string | undefined;
}

/** A request answered with a 5xx (or not at all: status 0), for the outage classification. */
export interface ServerErrorRecord {
  method: string;
  path: string;
  status: number;
  /** When the request was sent and when it ended (ms since epoch). */
  sentAt: number;
  at: number;
  retryAfter: string | undefined;
  error: string | undefined;
}

/** An answer the API contract does not allow for that request (e.g. a 404 for the customer's own order). */
export interface UnexpectedAnswer {
  method: string;
  path: string;
  status: number;
  error: string | undefined;
  at: number;
}

/** Everything the load observed. */
export interface LoadRecords {
  orders: PlacedOrder[];
  repeats: RepeatRecord[];
  cancels: CancelRecord[];
  serverErrors: ServerErrorRecord[];
  unexpected: UnexpectedAnswer[];
  /** Requests sent, by `<METHOD> <route> <status>`. */
  answers: Map<string, number>;
  requests: number;
  inFlight: number;
}

/** A customer of the run: id, token, and the orders it knows about. */
export interface Customer {
  id: string;
  token: string;
}

/** What the load needs. */
export interface LoadOptions {
  apiUrl: string;
  catalog: readonly CatalogProduct[];
  orders: number;
  ratePerSecond: number;
  /** Hard end of the load phase (ms since epoch): no new order after it. */
  deadline: number;
  customers: readonly Customer[];
  seed: number;
  random: Random;
  signal: AbortSignal;
  /** Told of every order id a customer owns, as soon as it is known (the socket clients follow it). */
  onOrder: (customerId: string, orderId: string) => void;
}

/** A running load: its records, and the promise that settles once every request (follow-ups included) is done. */
export interface Load {
  records: LoadRecords;
  done: Promise<void>;
  /** Tokens and JWTs the load used, for the log scan. */
  secrets(): Secret[];
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

interface Answer {
  status: number;
  body: Record<string, unknown>;
  retryAfter: string | undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The customers of a run, each with a token signed with the run's JWT_SECRET. */
export function createCustomers(count: number, seed: number, jwtSecret: string): Customer[] {
  return Array.from({ length: count }, (_, index) => {
    const id = `chaos-${seed}-customer-${index + 1}`;
    return { id, token: signToken(id, jwtSecret, { expiresIn: '6h' }) };
  });
}

/** Starts the load; returns at once. */
export function startLoad(options: LoadOptions): Load {
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

  const request = async (
    method: string,
    path: string,
    token: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer> => {
    const sentAt = Date.now();
    records.requests += 1;
    let answer: Answer;
    try {
      const response = await fetch(`${options.apiUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
      });
      const text = await response.text();
      let parsed: Record<string, unknown> = {};
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        parsed = { error: 'not_json', message: text.slice(0, 200) };
      }
      answer = { status: response.status, body: parsed, retryAfter: response.headers.get('retry-after') ?? undefined };
    } catch (error) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      answer = { status: 0, body: { error: 'no_answer', message }, retryAfter: undefined };
    }
    const key = `${requestRoute(method, path)} ${answer.status === 0 ? 'no answer' : answer.status}`;
    records.answers.set(key, (records.answers.get(key) ?? 0) + 1);
    if (answer.status === 0 || answer.status >= 500) {
      records.serverErrors.push({
        method,
        path,
        status: answer.status,
        sentAt,
        at: Date.now(),
        retryAfter: answer.retryAfter,
        error: typeof answer.body.error === 'string' ? answer.body.error : undefined,
      });
    }
    return answer;
  };

  const unexpected = (method: string, path: string, answer: Answer): void => {
    records.unexpected.push({
      method,
      path,
      status: answer.status,
      error: typeof answer.body.error === 'string' ? answer.body.error : undefined,
      at: Date.now(),
    });
  };

  /** Retries while the answer is a 5xx or nothing, waiting Retry-After (at least 1 s) between attempts. */
  const withRetries = async (send: () => Promise<Answer>, retry: boolean): Promise<[Answer, number]> => {
    let attempts = 0;
    for (;;) {
      attempts += 1;
      const answer = await send();
      const transient = answer.status >= 500 || answer.status === 0;
      const late = Date.now() > options.deadline + RETRY_GRACE_MS;
      if (!retry || !transient || attempts >= MAX_ATTEMPTS || late || signal.aborted) return [answer, attempts];
      const seconds = Number(answer.retryAfter ?? '2');
      await sleep(Math.min(10, Math.max(1, Number.isFinite(seconds) ? seconds : 2)) * 1000);
    }
  };

  const orderIdOf = (answer: Answer): string | undefined =>
    typeof answer.body.orderId === 'string' ? answer.body.orderId : undefined;

  const bodyFor = (token: string): OrderRequestBody => {
    const plentiful = options.catalog.filter((p) => p.stock >= 1000);
    const scarce = options.catalog.filter((p) => p.stock < 1000);
    const lines = new Map<string, number>();
    const count = random.weighted({ one: 60, two: 30, three: 10 });
    const wanted = count === 'one' ? 1 : count === 'two' ? 2 : 3;
    while (lines.size < wanted) lines.set(random.pick(plentiful).sku, random.int(1, 3));
    if (scarce.length > 0 && random.chance(0.12)) lines.set(random.pick(scarce).sku, random.int(2, 4));
    if (random.chance(0.03)) lines.set(UNKNOWN_SKU, 1);
    return { items: [...lines].map(([sku, quantity]) => ({ sku, quantity })), payment: { token } };
  };

  const repeat = async (order: PlacedOrder, customer: Customer, kind: RepeatRecord['kind']): Promise<void> => {
    const key = order.idempotencyKey;
    if (key === undefined || order.orderId === undefined) return;
    const body =
      kind === 'same_body'
        ? order.body
        : {
            ...order.body,
            items: order.body.items.map((item, i) => (i === 0 ? { ...item, quantity: item.quantity + 1 } : item)),
          };
    const [answer] = await withRetries(
      () => request('POST', '/orders', customer.token, body, { 'Idempotency-Key': key }),
      true,
    );
    records.repeats.push({
      idempotencyKey: key,
      kind,
      expectedOrderId: order.orderId,
      status: answer.status,
      orderId: orderIdOf(answer),
      error: typeof answer.body.error === 'string' ? answer.body.error : undefined,
    });
  };

  const cancel = async (orderId: string, customer: Customer): Promise<void> => {
    const path = `/orders/${orderId}/cancel`;
    const [answer] = await withRetries(() => request('POST', path, customer.token), true);
    const error = typeof answer.body.error === 'string' ? answer.body.error : undefined;
    records.cancels.push({ orderId, status: answer.status, error });
    const allowed = answer.status === 202 || (answer.status === 409 && error === 'not_cancellable');
    if (!allowed && answer.status !== 0 && answer.status < 500) {
      unexpected('POST', path, answer);
    }
  };

  const look = async (orderId: string, customer: Customer): Promise<void> => {
    const path = `/orders/${orderId}`;
    const answer = await request('GET', path, customer.token);
    if (answer.status !== 200 && answer.status < 500 && answer.status !== 0) unexpected('GET', path, answer);
  };

  const place = async (index: number): Promise<void> => {
    const customer = random.pick(customers);
    const tokenKind = random.weighted(TOKEN_WEIGHTS);
    const token = tokenKind === 'random' ? `pm_${random.hex(24)}` : tokenKind;
    tokensUsed.add(token);
    const idempotencyKey = random.chance(0.85) ? `chaos-${options.seed}-order-${index}` : undefined;
    const body = bodyFor(token);
    const headers: Record<string, string> = idempotencyKey !== undefined ? { 'Idempotency-Key': idempotencyKey } : {};
    const [answer, attempts] = await withRetries(
      () => request('POST', '/orders', customer.token, body, headers),
      idempotencyKey !== undefined,
    );
    const orderId = orderIdOf(answer);
    const error = typeof answer.body.error === 'string' ? answer.body.error : undefined;
    const rejected =
      (answer.status === 409 && error === 'insufficient_stock') || (answer.status === 422 && error === 'unknown_sku');
    const outcome: PlacedOrder['outcome'] =
      answer.status === 201 && orderId !== undefined
        ? 'accepted'
        : rejected && orderId !== undefined
          ? 'rejected'
          : answer.status >= 500 || answer.status === 0
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
    if (outcome === 'refused' && answer.status < 500) unexpected('POST', '/orders', answer);
    if (orderId === undefined || (outcome !== 'accepted' && outcome !== 'rejected')) return;
    options.onOrder(customer.id, orderId);

    const followUps: Promise<void>[] = [];
    if (outcome === 'accepted' && random.chance(0.22)) {
      const delay = random.int(0, 5000);
      followUps.push(sleep(delay).then(() => cancel(orderId, customer)));
    }
    if (outcome === 'accepted' && random.chance(0.3)) {
      const delay = random.int(0, 6000);
      followUps.push(sleep(delay).then(() => look(orderId, customer)));
    }
    if (idempotencyKey !== undefined && random.chance(0.3)) {
      const delay = random.int(0, 8000);
      const times = random.chance(0.2) ? 2 : 1; // sometimes two repeats at once
      for (let i = 0; i < times; i += 1) {
        followUps.push(sleep(delay).then(() => repeat(order, customer, 'same_body')));
      }
    }
    if (idempotencyKey !== undefined && random.chance(0.05)) {
      followUps.push(sleep(random.int(0, 4000)).then(() => repeat(order, customer, 'other_body')));
    }
    await Promise.all(followUps);
  };

  const done = (async () => {
    const started = Date.now();
    const tasks = new Set<Promise<void>>();
    for (let index = 0; index < options.orders; index += 1) {
      const due = started + (index * 1000) / options.ratePerSecond;
      while (Date.now() < due && !signal.aborted) await sleep(Math.min(50, due - Date.now()));
      while (records.inFlight >= MAX_IN_FLIGHT && !signal.aborted) await sleep(50);
      if (signal.aborted || Date.now() > options.deadline) break;
      records.inFlight += 1;
      const task = place(index)
        .catch((error: unknown) => {
          records.unexpected.push({
            method: 'LOAD',
            path: `order ${index}`,
            status: -1,
            error: error instanceof Error ? error.message : String(error),
            at: Date.now(),
          });
        })
        .finally(() => {
          records.inFlight -= 1;
          tasks.delete(task);
        });
      tasks.add(task);
    }
    await Promise.all(tasks);
  })();

  return {
    records,
    done,
    secrets: () => [
      ...customers.map((customer) => ({ label: `JWT of ${customer.id}`, value: customer.token })),
      ...[...tokensUsed].map((token) => ({
        label: token.startsWith('pm_') ? 'a random payment token' : `payment token ${token}`,
        value: token,
      })),
    ],
  };
}
