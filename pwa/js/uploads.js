// Resumable uploads in chunks that continue where the server stopped (README.md, Forms,
// "Attachments"): form attachments under /forms/attachments (the session cookie says whose),
// and an access request's identity document and video under /access/requests/<id>/files (the
// request's secret in a header says whose). Errors: NetworkError (try again later) or ApiError
// (refused).

import { ApiError, NetworkError } from "./api.js";

export const ACCEPTED_TYPES = ["image/jpeg", "image/png", "application/pdf"];
export const MAX_BYTES = 10 * 1024 * 1024; // the server's default FORMS_ATTACHMENT_MAX_BYTES
// Small enough that a slow connection shows progress and loses little when it drops.
const SLOW_NETWORK_CHUNK = 256 * 1024;
const RETRY_DELAYS_MS = [1_000, 2_000, 5_000, 10_000, 20_000, 30_000];

export async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function request(method, url, body, type, headers = {}) {
  let response;
  try {
    response = await fetch(url, {
      method,
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": type, Accept: "application/json", ...headers },
      body,
    });
  } catch (error) {
    throw new NetworkError(`${method} ${url}: no response`, { cause: error });
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const first = data?.errors?.[0];
    const seconds = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
    throw new ApiError(first?.message ?? `HTTP ${response.status}`, {
      code: first?.extensions?.code ?? "BAD_RESPONSE",
      field: first?.extensions?.field ?? null,
      status: response.status,
      retryAfter: Number.isFinite(seconds) ? seconds : null,
    });
  }
  return data;
}

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Upload one file ({ name, type, blob, uploadId? }) to the upload API at `base`; resolves to the
 * server's state of the completed upload. A file whose upload was started before (`uploadId`)
 * continues from the server's offset. `fields` go along when the upload is created,
 * `headers` with every request; `onProgress(sentBytes, totalBytes)` hears each chunk. When the
 * connection drops it waits and resumes, `retries` times, before giving up with NetworkError.
 */
export async function uploadFile(
  file,
  { base = "/forms/attachments", headers = {}, fields = {}, onProgress, retries = 0, chunkBytes } = {},
) {
  const sha256 = await sha256Hex(file.blob);
  const json = (method, url, body) =>
    request(method, url, body === undefined ? undefined : JSON.stringify(body), "application/json", headers);
  let attempt = 0;
  for (;;) {
    try {
      let state = file.uploadId ? await json("GET", `${base}/${file.uploadId}`).catch(notFound) : null;
      if (!state) {
        state = await json("POST", base, {
          ...fields,
          filename: file.name,
          size: file.blob.size,
          sha256,
          mediaType: file.type,
        });
        file.uploadId = state.id;
      }
      const chunk = Math.min(state.maxChunkBytes || 1024 * 1024, chunkBytes ?? Infinity);
      onProgress?.(state.offset, file.blob.size);
      while (!state.complete && state.offset < file.blob.size) {
        const part = file.blob.slice(state.offset, state.offset + chunk);
        state = await request(
          "PUT",
          `${base}/${state.id}/chunks?offset=${state.offset}`,
          part,
          "application/octet-stream",
          headers,
        );
        attempt = 0; // progress was made: the retry budget is for a connection that stays down
        onProgress?.(state.offset, file.blob.size);
      }
      if (!state.complete) state = await json("POST", `${base}/${state.id}/complete`, {});
      onProgress?.(file.blob.size, file.blob.size);
      return state;
    } catch (error) {
      const resumable =
        error instanceof NetworkError ||
        (error instanceof ApiError && ["UPLOAD_OFFSET_MISMATCH", "UPLOAD_INCOMPLETE"].includes(error.code));
      if (!resumable || attempt >= retries) throw error;
      await wait(RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)]);
      attempt += 1; // then ask the server where it stands, and go on from there
    }
  }
}

// An upload the server no longer knows (expired, removed) starts again from zero.
function notFound(error) {
  if (error instanceof ApiError && error.status === 404) return null;
  throw error;
}

/**
 * A form attachment; resolves to its id (outbox.js retries a failed one later). `owner`: the
 * outbox owner the form is bound to (a session of anyone else is refused: vault.js).
 */
export async function uploadAttachment(file, { owner = null } = {}) {
  return (await uploadFile(file, { fields: { owner } })).id;
}

/** An access request's file (kind "document" or "video"), resumed on a slow or flaky network. */
export function uploadRequestFile(file, { requestId, secret, kind, onProgress }) {
  return uploadFile(file, {
    base: `/access/requests/${requestId}/files`,
    headers: { Authorization: `Bearer ${secret}` },
    fields: { kind },
    onProgress,
    retries: RETRY_DELAYS_MS.length,
    chunkBytes: SLOW_NETWORK_CHUNK,
  });
}

/** A local check before queueing: type and size (the server checks the content again). */
export function checkFile(file) {
  if (!ACCEPTED_TYPES.includes(file.type)) return "forms.error.fileType";
  if (file.size > MAX_BYTES) return "forms.error.fileSize";
  return null;
}
