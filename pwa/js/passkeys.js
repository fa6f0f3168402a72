// Passkeys in the browser: the WebAuthn ceremonies against the server's /auth endpoints.
// The server sends PublicKeyCredential*OptionsJSON and takes credential.toJSON() back
// (WebAuthn Level 3, §5.1.8-§5.1.10); older browsers get the same done in base64url here.

import { postJson } from "./api.js";

/**
 * The browser or the authenticator said no. `code` is one of:
 *   CANCELLED           NotAllowedError: the person cancelled, timed out or failed verification
 *   ALREADY_REGISTERED  InvalidStateError: this authenticator already holds a passkey for us
 *   ABORTED             we cancelled it ourselves (AbortController)
 *   SECURITY            SecurityError: wrong origin for the RP ID (e.g. 127.0.0.1 for localhost)
 *   UNSUPPORTED         no WebAuthn, or no supported algorithm / resident keys
 *   FAILED              anything else
 */
export class PasskeyError extends Error {
  constructor(code, options) {
    super(`passkey: ${code}`, options);
    this.name = "PasskeyError";
    this.code = code;
  }
}

const BROWSER_ERRORS = {
  NotAllowedError: "CANCELLED",
  InvalidStateError: "ALREADY_REGISTERED",
  AbortError: "ABORTED",
  SecurityError: "SECURITY",
  NotSupportedError: "UNSUPPORTED",
};

export function isSupported() {
  return typeof globalThis.PublicKeyCredential === "function" && Boolean(navigator.credentials);
}

/** Can passkeys be offered in the browser's autofill (conditional mediation)? */
export async function autofillAvailable() {
  try {
    return (
      isSupported() &&
      typeof PublicKeyCredential.isConditionalMediationAvailable === "function" &&
      (await PublicKeyCredential.isConditionalMediationAvailable())
    );
  } catch {
    return false;
  }
}

/**
 * Usernameless sign-in: the server's options have no allowCredentials, so the authenticator
 * offers every passkey it holds for this site. `autofill` waits for the person to pick one in
 * the browser's autofill (conditional mediation) instead of opening a dialog; `onStep` hears
 * "device" (the browser is asking) and "checking" (the server is verifying).
 */
export async function signIn({ autofill = false, signal, onStep } = {}) {
  requireSupport();
  const { publicKey } = await postJson("/auth/login/options", {}, { signal });
  onStep?.("device");
  const request = { publicKey: requestOptions(publicKey), signal };
  if (autofill) request.mediation = "conditional";
  const credential = await fromBrowser(() => navigator.credentials.get(request));
  onStep?.("checking");
  const result = await postJson("/auth/login", credentialJSON(credential));
  rememberHere(result?.passkeyId);
  return result;
}

// Passkeys created or used on this device (server ids): the Security page marks them "This
// device" (#16 item 16). Ids only, nothing personal; at most the last 20.
const HERE = "duo.passkeys.here";

/** The ids of the passkeys this device has created or signed in with. */
export function passkeysHere() {
  try {
    return new Set(JSON.parse(localStorage.getItem(HERE) ?? "[]"));
  } catch {
    return new Set();
  }
}

function rememberHere(id) {
  if (!id) return;
  try {
    const ids = [...passkeysHere()].filter((known) => known !== id);
    localStorage.setItem(HERE, JSON.stringify([...ids, id].slice(-20)));
  } catch {
    /* storage refused: no marker, nothing else lost */
  }
}

/** Activation code + date of birth, then a new passkey: {passkey, signedIn, recoveryKey}. */
export function activate({ code, dateOfBirth }, onStep) {
  return register("/auth/activation", { code, dateOfBirth }, onStep);
}

/** Recovery key, then a new passkey; the answer carries a new recovery key. */
export function recover({ recoveryKey }, onStep) {
  return register("/auth/recovery", { recoveryKey }, onStep);
}

/** The token of a device link (from another, signed-in device), then a passkey here. */
export function linkDevice({ token }, onStep) {
  return register("/auth/device-link", { token }, onStep);
}

/**
 * The first passkey after DUO approved this browser's access request: the request's id and
 * the secret this browser generated for it (access.js). Answers like activate().
 */
export function accessRequest({ requestId, secret }, onStep) {
  return register("/auth/access-request", { requestId, secret }, onStep);
}

/** Another passkey on this device, for the account signed in. */
export function addPasskey(onStep) {
  return register("/auth/passkeys/options", {}, onStep);
}

async function register(path, body, onStep) {
  requireSupport();
  onStep?.("checking");
  const { publicKey } = await postJson(path, body);
  onStep?.("device");
  const credential = await fromBrowser(() =>
    navigator.credentials.create({ publicKey: creationOptions(publicKey) }),
  );
  onStep?.("saving");
  const result = await postJson("/auth/passkeys", credentialJSON(credential));
  rememberHere(result?.passkey?.id);
  return result;
}

function requireSupport() {
  if (!isSupported()) throw new PasskeyError("UNSUPPORTED");
}

async function fromBrowser(ceremony) {
  let credential;
  try {
    credential = await ceremony();
  } catch (error) {
    throw new PasskeyError(BROWSER_ERRORS[error?.name] ?? "FAILED", { cause: error });
  }
  if (!credential) throw new PasskeyError("CANCELLED");
  return credential;
}

// --- JSON <-> ArrayBuffer (WebAuthn Level 3 helpers, with a fallback) ----------------

function creationOptions(json) {
  if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
    return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
    excludeCredentials: (json.excludeCredentials ?? []).map(descriptor),
  };
}

function requestOptions(json) {
  if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
    return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    allowCredentials: (json.allowCredentials ?? []).map(descriptor),
  };
}

function descriptor(credential) {
  return { ...credential, id: fromBase64url(credential.id) };
}

function credentialJSON(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const { response } = credential;
  const json = {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment ?? null,
    clientExtensionResults: credential.getClientExtensionResults?.() ?? {},
    response: { clientDataJSON: toBase64url(response.clientDataJSON) },
  };
  if ("attestationObject" in response) {
    json.response.attestationObject = toBase64url(response.attestationObject);
    json.response.transports = response.getTransports?.() ?? [];
  } else {
    json.response.authenticatorData = toBase64url(response.authenticatorData);
    json.response.signature = toBase64url(response.signature);
    json.response.userHandle = response.userHandle ? toBase64url(response.userHandle) : null;
  }
  return json;
}

function fromBase64url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "===".slice((base64.length + 3) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
}

function toBase64url(buffer) {
  let binary = "";
  for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
