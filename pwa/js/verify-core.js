// Verifying a DUO extract in the browser, offline: ES256 compact JWS (RFC 7515) checked with
// WebCrypto against DUO's JWKS, then its bit in the signed status list (W3C Bitstring Status
// List v1.0 §4.1: gzip, base64url with multibase prefix "u", left-most bit first). The keys
// and the list are public; they are kept in localStorage (not personal data: they survive
// sign-out, so a verifier without an account can check extracts offline).

const JWKS_URL = "/.well-known/jwks.json";
const EXTRACT_TYP = "duo-extract+jwt";
const STATUS_TYP = "duo-statuslist+jwt";
const KEYS_ITEM = "duo.verify.jwks";
const LIST_ITEM = "duo.verify.status:";
const MAX_JWS_CHARS = 64 * 1024;
const SEGMENT = /^[A-Za-z0-9_-]+$/;
// The order n of P-256 (SEC 2 §2.4.2): DUO signs only the low-S twin of an ECDSA signature,
// so one extract has one text (api/es256.py); the high-S twin is refused as the server does.
const P256_HALF_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n / 2n;
// The only protected header members DUO writes (extracts/verify.py).
const HEADER_MEMBERS = new Set(["alg", "kid", "typ"]);

export function b64urlDecode(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export function b64urlEncode(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Decoded bytes, or null when the text is not canonical base64url (extracts/verify.py). */
function canonical(segment) {
  try {
    const bytes = b64urlDecode(segment);
    return b64urlEncode(bytes) === segment ? bytes : null;
  } catch {
    return null;
  }
}

/** Does this text look like a compact JWS at all? (Otherwise: "not an extract".) */
export function looksLikeJws(text) {
  const trimmed = String(text ?? "").trim();
  const parts = trimmed.split(".");
  return trimmed.length <= MAX_JWS_CHARS && parts.length === 3 && parts.every((p) => SEGMENT.test(p));
}

function readJson(bytes) {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return null;
  }
}

/** { kid, header, payload } when the signature holds, else "tampered" or "unknown_issuer". */
async function checkSignature(token, jwks, typ) {
  const [h, p, s] = token.trim().split(".");
  const rawHeader = canonical(h);
  const rawPayload = canonical(p);
  const signature = canonical(s);
  if (!rawHeader || !rawPayload || !signature) return "tampered";
  const header = readJson(rawHeader);
  if (!header || typeof header !== "object") return "tampered";
  const jwk = (jwks?.keys ?? []).find((k) => k.kid === header.kid && k.kty === "EC");
  if (!jwk) return "unknown_issuer";
  // ES256 only: never "none", never HS256 with the public key as the secret (RFC 8725 §3.1).
  if (header.alg !== "ES256" || signature.length !== 64) return "tampered";
  if (!Object.keys(header).every((k) => HEADER_MEMBERS.has(k))) return "tampered";
  const hex = Array.from(signature.slice(32), (b) => b.toString(16).padStart(2, "0")).join("");
  if (BigInt(`0x${hex}`) > P256_HALF_ORDER) return "tampered";
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty: "EC", crv: jwk.crv, x: jwk.x, y: jwk.y },
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["verify"],
  );
  // JWS ES256 signatures are R || S (RFC 7518 §3.4), the form WebCrypto expects.
  const ok = await crypto.subtle.verify(
    { name: "ECDSA", hash: "SHA-256" },
    key,
    signature,
    new TextEncoder().encode(`${h}.${p}`),
  );
  const payload = ok ? readJson(rawPayload) : null;
  if (!payload || typeof payload !== "object") return "tampered";
  if (header.typ !== typ) return "wrong_type";
  return { kid: header.kid, header, payload };
}

async function gunzip(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function load(item) {
  try {
    return JSON.parse(localStorage.getItem(item) ?? "null");
  } catch {
    return null;
  }
}

function store(item, value) {
  try {
    localStorage.setItem(item, JSON.stringify(value));
  } catch {
    /* storage full or disabled: verification still works while online */
  }
}

async function fetchText(url) {
  const response = await fetch(url, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.text();
}

/** Fetch DUO's keys now (online); keeps the last good copy. Resolves to the JWKS or null. */
export async function refreshKeys() {
  try {
    const jwks = JSON.parse(await fetchText(JWKS_URL));
    store(KEYS_ITEM, { jwks, fetchedAt: Date.now() });
    return jwks;
  } catch {
    return load(KEYS_ITEM)?.jwks ?? null;
  }
}

/** Fetch, check and keep a status list; returns { token, fetchedAt } or the saved one. */
async function refreshList(url, jwks) {
  try {
    const token = (await fetchText(url)).trim();
    const checked = await checkSignature(token, jwks, STATUS_TYP);
    if (typeof checked === "string") throw new Error(`status list: ${checked}`);
    const saved = { token, fetchedAt: Date.now(), issuedAt: checked.payload.iat * 1000 };
    store(LIST_ITEM + url, saved);
    return saved;
  } catch {
    return load(LIST_ITEM + url);
  }
}

/** When the saved status list for this URL was fetched (ms), or null. */
export function savedListTime(url) {
  return load(LIST_ITEM + url)?.fetchedAt ?? null;
}

/**
 * Verify an extract with what this device has (fetching keys and list first when online).
 * Resolves to { result, issuer, payload, kid, statusListFetchedAt, checkedAt } where result is
 * valid | revoked | expired | not_yet_valid | tampered | unknown_issuer | no_keys | no_status |
 * not_extract.
 */
export async function verifyOnDevice(token, { online = navigator.onLine } = {}) {
  const checkedAt = Date.now();
  token = String(token ?? "").trim();
  if (!looksLikeJws(token)) return { result: "not_extract", checkedAt };
  let jwks = load(KEYS_ITEM)?.jwks ?? null;
  if (online || !jwks) jwks = (await refreshKeys()) ?? jwks;
  if (!jwks) return { result: "no_keys", checkedAt };
  let checked = await checkSignature(token, jwks, EXTRACT_TYP);
  if (checked === "unknown_issuer" && !online) {
    // A key newer than the saved JWKS: try once more in case the network is back.
    checked = await checkSignature(token, (await refreshKeys()) ?? jwks, EXTRACT_TYP);
  }
  if (checked === "wrong_type") return { result: "not_extract", checkedAt };
  if (typeof checked === "string") return { result: checked, checkedAt };
  const { payload, kid } = checked;
  // NumericDates only (RFC 7519 §2): "exp": "never" must not mean "never expires".
  const times = ["exp", "nbf", "iat"].filter((claim) => claim in payload);
  if (!times.every((claim) => typeof payload[claim] === "number")) {
    return { result: "tampered", checkedAt };
  }
  const base = { payload, kid, issuer: String(payload.iss ?? ""), checkedAt };
  const url = payload.credentialStatus?.statusListCredential;
  const index = Number.parseInt(payload.credentialStatus?.statusListIndex ?? "", 10);
  if (typeof url !== "string" || !Number.isInteger(index)) return { ...base, result: "tampered" };
  let saved = load(LIST_ITEM + url);
  if (online || !saved) saved = (await refreshList(url, jwks)) ?? saved;
  if (!saved) return { ...base, result: "no_status" };
  const list = await checkSignature(saved.token, jwks, STATUS_TYP);
  if (typeof list === "string") return { ...base, result: "no_status" };
  // A listed key is not enough: the extract must name the issuer its status list names.
  if (payload.iss !== list.payload.iss) return { result: "unknown_issuer", kid, checkedAt };
  const encoded = list.payload.credentialSubject?.encodedList ?? "";
  const bits = encoded.startsWith("u") ? await gunzip(b64urlDecode(encoded.slice(1))) : null;
  if (!bits || index >> 3 >= bits.length) return { ...base, result: "no_status" };
  const revoked = (bits[index >> 3] & (0x80 >> (index % 8))) !== 0;
  const early = typeof payload.nbf === "number" && checkedAt / 1000 < payload.nbf;
  const expired = typeof payload.exp === "number" && checkedAt / 1000 >= payload.exp;
  return {
    ...base,
    result: revoked ? "revoked" : early ? "not_yet_valid" : expired ? "expired" : "valid",
    statusListFetchedAt: saved.fetchedAt,
  };
}

/** The server's verdict (POST /extracts/verify), or null when it cannot be reached. */
export async function verifyOnServer(token) {
  try {
    const response = await fetch("/extracts/verify", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ jws: String(token).trim() }),
      cache: "no-store",
    });
    if (response.status === 400) return { result: "not_extract" };
    if (!response.ok) return null;
    return await response.json();
  } catch {
    return null;
  }
}
