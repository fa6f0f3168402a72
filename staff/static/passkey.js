// Staff passkeys: enrolment (invite link) and sign-in against /staff/auth. The server sends
// PublicKeyCredential*OptionsJSON and takes credential.toJSON() back (WebAuthn Level 3,
// §5.1.8-§5.1.10); user verification is required by the server's options.

const BASE = "/staff/auth";

export function attach(box) {
  const button = box.querySelector("#passkey-start");
  const status = box.querySelector("#passkey-status");
  const say = (text, failed = false) => {
    status.textContent = text;
    status.classList.toggle("status-error", failed);
  };
  const ceremony = box.dataset.ceremony;
  let token = null;
  if (ceremony === "enrol") {
    token = decodeURIComponent(location.hash.slice(1));
    // The token leaves the address bar (and the history entry) at once.
    history.replaceState(null, "", location.pathname);
    if (!token) {
      button.disabled = true;
      say(box.dataset.noToken, true);
      return;
    }
  }
  // Rendered disabled: a click before this script runs would do nothing.
  button.disabled = false;
  button.addEventListener("click", async () => {
    button.disabled = true;
    say(box.dataset.busy);
    try {
      if (ceremony === "enrol") await enrol(token);
      else await signIn();
      location.assign(box.dataset.next || "/staff/");
    } catch (error) {
      say(box.dataset.failed.replace("{reason}", reasonOf(box, error)), true);
      button.disabled = false;
    }
  });
}

function reasonOf(box, error) {
  // An outage (503) in the page's language; the server's own message is in English.
  if (error?.status === 503) return box.dataset.unavailable;
  if (error?.serverMessage) return error.serverMessage;
  if (error?.name === "NotAllowedError" || error?.name === "AbortError") return box.dataset.cancelled;
  if (typeof PublicKeyCredential !== "function") return box.dataset.unsupported;
  return box.dataset.generic;
}

async function postJson(path, body) {
  const response = await fetch(BASE + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(`HTTP ${response.status}`);
    error.status = response.status;
    error.serverMessage = answer?.errors?.[0]?.message;
    throw error;
  }
  return answer;
}

async function enrol(token) {
  const { publicKey } = await postJson("/enrol/options", { token });
  const credential = await navigator.credentials.create({ publicKey: creationOptions(publicKey) });
  return postJson("/enrol", toJSON(credential));
}

async function signIn() {
  const { publicKey } = await postJson("/login/options", {});
  const credential = await navigator.credentials.get({ publicKey: requestOptions(publicKey) });
  return postJson("/login", toJSON(credential));
}

// --- JSON <-> ArrayBuffer (WebAuthn Level 3 helpers, with a fallback) ----------------------

function creationOptions(json) {
  if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
    return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
    excludeCredentials: (json.excludeCredentials ?? []).map((c) => ({ ...c, id: fromBase64url(c.id) })),
  };
}

function requestOptions(json) {
  if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
    return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  }
  return { ...json, challenge: fromBase64url(json.challenge), allowCredentials: [] };
}

function toJSON(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const { response } = credential;
  const json = {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
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
