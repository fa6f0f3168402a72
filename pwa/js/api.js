// The GraphQL client: persisted queries only (the server refuses query text in production).
//   queries:   GET  /graphql?operationName=…&extensions=…&variables=…  (cacheable, small)
//   mutations: POST /graphql with a JSON body (Strawberry refuses mutations over GET)

import { OPERATIONS } from "./operations.js";

// A slow network is better served by the offline copy than by a spinner for minutes.
const TIMEOUT_MS = 20_000;

/** The server answered with a GraphQL error; `code` is extensions.code (e.g. UNAUTHENTICATED). */
export class ApiError extends Error {
  constructor(message, { code = "UNKNOWN", field = null, status = 0 } = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.field = field;
    this.status = status;
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

async function send(url, init) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let response;
  let text;
  try {
    // no-store: personal data must not linger in the HTTP cache after sign-out.
    response = await fetch(url, {
      ...init,
      credentials: "same-origin",
      cache: "no-store",
      signal: controller.signal,
    });
    text = await response.text();
  } catch (error) {
    throw new NetworkError(`${init.method} ${url.split("?")[0]}: no response`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON: a proxy's error page, for example */
  }
  const first = body?.errors?.[0];
  if (first) {
    throw new ApiError(first.message ?? "GraphQL error", {
      code: first.extensions?.code ?? "UNKNOWN",
      field: first.extensions?.field ?? null,
      status: response.status,
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
