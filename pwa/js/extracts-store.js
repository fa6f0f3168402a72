// Extracts kept on this device for offline use: the JSON (with the JWS), the HTML rendering
// with its stylesheet and the PDF, in the Cache "duo-data-extracts" (personal data: the
// duo-data- prefix makes sign-out delete it). Extracts are immutable, so a stored copy never
// goes stale; the service worker answers these URLs from here first (sw.js).

import { DATA_CACHE_PREFIX } from "./store.js";

export const EXTRACTS_CACHE = `${DATA_CACHE_PREFIX}extracts`;
const STYLESHEET = "/extracts/extract.css";

function urlsOf(extract) {
  return [extract.jsonUrl, extract.htmlUrl, extract.pdfUrl, STYLESHEET];
}

/** Download an extract's files and keep them; resolves when all are stored. */
export async function keepExtract(extract) {
  // Fetched first, stored after: no cache operation waits on the network half-way.
  const responses = await Promise.all(
    urlsOf(extract).map(async (url) => {
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
      return [url, response];
    }),
  );
  const cache = await caches.open(EXTRACTS_CACHE);
  await Promise.all(responses.map(([url, response]) => cache.put(url, response)));
}

/** The stored JSON {id, jws, payload, …} of an extract, or null. */
export async function storedExtract(extract) {
  if (!("caches" in self)) return null;
  const cache = await caches.open(EXTRACTS_CACHE);
  const response = await cache.match(extract.jsonUrl, { ignoreVary: true });
  return response ? response.json() : null;
}

/** Ids of the extracts whose JSON is stored here. */
export async function storedIds() {
  if (!("caches" in self) || !(await caches.has(EXTRACTS_CACHE))) return new Set();
  const cache = await caches.open(EXTRACTS_CACHE);
  const ids = (await cache.keys())
    .map((request) => new URL(request.url).pathname.match(/^\/extracts\/([0-9a-f-]{36})$/)?.[1])
    .filter(Boolean);
  return new Set(ids);
}
