/**
 * The API as its clients (the bench's order loops, the chaos load) call it. Never throws: a request that got no
 * answer (refused, reset, timed out, aborted) comes back as status 0 with the error `no_answer`.
 */

/** One answer of the API: status (0: none came), JSON body (`{ error: 'not_json' }` if not JSON), its `error` code. */
export interface ApiAnswer {
  status: number;
  body: Record<string, unknown>;
  error: string | undefined;
  retryAfter: string | undefined;
}

/** What to send besides the method and path: a bearer token, a body sent as JSON, a timeout (default 30 s). */
export interface ApiRequest {
  token: string;
  body?: unknown;
  headers?: Record<string, string>;
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
