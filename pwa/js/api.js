// Talking to the server. GraphQL: persisted queries only (the server refuses query text in
// production). REST: the passkey ceremonies under /auth, which speak WebAuthn's JSON, and
// access requests under /access (made before there is an account).
//   queries:   GET  /graphql?operationName=…&extensions=…&variables=…  (cacheable, small)
//   mutations: POST /graphql with a JSON body (Strawberry refuses mutations over GET)
//   /auth/*:   POST with a JSON body; errors come with an HTTP 4xx status

import { OPERATIONS } from "./operations.js";

// A slow network is better served by the offline copy than by a spinner for minutes.
const TIMEOUT_MS = 20_000;

/**
 * The server refused: `code` is extensions.code (e.g. UNAUTHENTICATED), `field` the input it
 * is about, `retryAfter` the seconds to wait when rate limited (else null).
 */
export class ApiError extends Error {
  constructor(message, { code = "UNKNOWN", field = null, status = 0, retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.field = field;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** No answer: offline, DNS failure, timeout, connection dropped. Cached data may be shown. */
export class NetworkError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = "NetworkError";
  }
}

export function isUnauthenticated(error) {
  return error instanceof ApiError && error.code === "UNAUTHENTICATED";
}

/** Run a persisted query by operation name; resolves to `data`. */
export function query(operationName, variables) {
  const params = new URLSearchParams({
    operationName,
    extensions: JSON.stringify(persistedQuery(operationName)),
  });
  if (variables && Object.keys(variables).length > 0) {
    params.set("variables", JSON.stringify(variables));
  }
  // Without Accept: application/json a GET is taken for a browser wanting the IDE.
  return send(`/graphql?${params}`, { method: "GET", headers: { Accept: "application/json" } });
}

/** Run a persisted mutation by operation name; resolves to `data`. */
export function mutate(operationName, variables = {}) {
  return send("/graphql", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({
      operationName,
      variables,
      extensions: persistedQuery(operationName),
    }),
  });
}

function persistedQuery(operationName) {
  const sha256Hash = OPERATIONS[operationName];
  if (!sha256Hash) throw new Error(`unknown operation ${operationName}: not in operations.js`);
  return { persistedQuery: { version: 1, sha256Hash } };
}

/**
 * POST JSON to a REST endpoint (the /auth ceremonies); resolves to the JSON answer.
 * `signal` cancels the request (it then rejects with the signal's reason).
 */
export function postJson(path, body, { signal } = {}) {
  return restJson("POST", path, body, { signal });
}

/**
 * A JSON REST call (the ceremonies under /auth, access requests under /access); resolves to
 * the JSON answer (null for 204). `headers` go along (an access request's secret).
 */
export async function restJson(method, path, body, { signal, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const { response, text } = await exchange(path, init, signal);
  const data = parseJson(text);
  if (!response.ok) {
    const first = data?.errors?.[0];
    const seconds = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
    throw new ApiError(first?.message ?? `HTTP ${response.status}`, {
      code: first?.extensions?.code ?? (response.status >= 500 ? "SERVER_ERROR" : "BAD_RESPONSE"),
      field: first?.extensions?.field ?? null,
      status: response.status,
      retryAfter: Number.isFinite(seconds) ? seconds : null,
    });
  }
  if (response.status === 204) return null;
  if (data === null) throw new ApiError(`HTTP ${response.status}`, { code: "BAD_RESPONSE" });
  return data;
}

/** One request with a timeout; NetworkError when no answer arrives. */
async function exchange(url, init, signal) {
  if (signal?.aborted) throw signal.reason;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  const cancel = () => controller.abort(signal.reason);
  signal?.addEventListener("abort", cancel, { once: true });
  try {
    // no-store: personal data must not linger in the HTTP cache after sign-out.
    const response = await fetch(url, {
      ...init,
      credentials: "same-origin",
      cache: "no-store",
      signal: controller.signal,
    });
    return { response, text: await response.text() };
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw new NetworkError(`${init.method} ${url.split("?")[0]}: no response`, { cause: error });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", cancel);
  }
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null; // not JSON: a proxy's error page, for example
  }
}

async function send(url, init) {
  const { response, text } = await exchange(url, init);
  const body = parseJson(text);
  const first = body?.errors?.[0];
  if (first) {
    throw new ApiError(first.message ?? "GraphQL error", {
      code: first.extensions?.code ?? "UNKNOWN",
      field: first.extensions?.field ?? null,
      status: response.status,
      retryAfter: first.extensions?.retryAfter ?? null,
    });
  }
  if (!response.ok || !body?.data) {
    throw new ApiError(`HTTP ${response.status}`, {
      code: response.status >= 500 ? "SERVER_ERROR" : "BAD_RESPONSE",
      status: response.status,
    });
  }
  return body.data;
}
