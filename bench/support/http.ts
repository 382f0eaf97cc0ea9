/**
 * The API as its clients (the bench's order loops, the chaos load) call it: one request with a bearer token and a
 * JSON body, answered with the status, the parsed body, its `error` code and Retry-After. It never throws: a request
 * that got no answer (refused, reset, timed out, aborted) comes back as status 0 with the error `no_answer`.
 */

/** One answer of the API. */
export interface ApiAnswer {
  /** HTTP status; 0 when no answer came. */
  status: number;
  /** The JSON body (`{ error: 'not_json' }` when it was not JSON). */
  body: Record<string, unknown>;
  /** The body's `error` code, if any. */
  error: string | undefined;
  retryAfter: string | undefined;
}

/** What to send besides the method and path. */
export interface ApiRequest {
  /** Bearer token. */
  token: string;
  /** Sent as JSON when given. */
  body?: unknown;
  headers?: Record<string, string>;
  /** How long to wait for the whole answer. @default 30000 */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Sends one request to `baseUrl` + `path`. */
export async function callApi(baseUrl: string, method: string, path: string, request: ApiRequest): Promise<ApiAnswer> {
  const signals = [AbortSignal.timeout(request.timeoutMs ?? 30_000), ...(request.signal ? [request.signal] : [])];
  let answer: Omit<ApiAnswer, 'error'>;
  try {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${request.token}`,
        ...(request.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...request.headers,
      },
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      signal: AbortSignal.any(signals),
    });
    const text = await response.text();
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = { error: 'not_json', message: text.slice(0, 200) };
    }
    answer = { status: response.status, body, retryAfter: response.headers.get('retry-after') ?? undefined };
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    answer = { status: 0, body: { error: 'no_answer', message }, retryAfter: undefined };
  }
  return { ...answer, error: typeof answer.body.error === 'string' ? answer.body.error : undefined };
}
