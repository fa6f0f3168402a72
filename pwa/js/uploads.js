// Attachment uploads (income evidence): the REST API under /forms/attachments, separate from
// the submission that names their ids, in chunks that resume where the server stopped
// (README.md, Forms, "Attachments"). Errors: NetworkError (try again later) or ApiError (refused).

import { ApiError, NetworkError, postJson } from "./api.js";

export const ACCEPTED_TYPES = ["image/jpeg", "image/png", "application/pdf"];
export const MAX_BYTES = 10 * 1024 * 1024; // the server's default FORMS_ATTACHMENT_MAX_BYTES

async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function request(method, url, body, type) {
  let response;
  try {
    response = await fetch(url, {
      method,
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": type, Accept: "application/json" },
      body,
    });
  } catch (error) {
    throw new NetworkError(`${method} ${url}: no response`, { cause: error });
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const first = data?.errors?.[0];
    throw new ApiError(first?.message ?? `HTTP ${response.status}`, {
      code: first?.extensions?.code ?? "BAD_RESPONSE",
      status: response.status,
    });
  }
  return data;
}

/**
 * Upload one file ({ name, type, blob, uploadId? }); resolves to the attachment id. A file
 * whose upload was started before (`uploadId`) continues from the server's offset.
 */
export async function uploadAttachment(file) {
  const sha256 = await sha256Hex(file.blob);
  let state = file.uploadId
    ? await request("GET", `/forms/attachments/${file.uploadId}`, undefined, "application/json").catch(
        () => null,
      )
    : null;
  if (!state) {
    state = await postJson("/forms/attachments", {
      filename: file.name,
      size: file.blob.size,
      sha256,
      mediaType: file.type,
    });
    file.uploadId = state.id;
  }
  const chunk = state.maxChunkBytes || 1024 * 1024;
  while (!state.complete && state.offset < file.blob.size) {
    const part = file.blob.slice(state.offset, state.offset + chunk);
    state = await request(
      "PUT",
      `/forms/attachments/${state.id}/chunks?offset=${state.offset}`,
      part,
      "application/octet-stream",
    );
  }
  if (!state.complete) {
    state = await postJson(`/forms/attachments/${state.id}/complete`, {});
  }
  return state.id;
}

/** A local check before queueing: type and size (the server checks the content again). */
export function checkFile(file) {
  if (!ACCEPTED_TYPES.includes(file.type)) return "forms.error.fileType";
  if (file.size > MAX_BYTES) return "forms.error.fileSize";
  return null;
}
