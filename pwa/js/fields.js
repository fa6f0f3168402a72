// Form fields shared by the sign-in and security screens, and the one place that
// turns what the server or the browser refused into a message a person can act on.

import { ApiError, NetworkError } from "./api.js";
import { h } from "./dom.js";
import * as fmt from "./format.js";
import { getLanguage, t } from "./i18n.js";
import { PasskeyError } from "./passkeys.js";

// Server codes (auth/errors.py, api/http.py) -> message keys. Each says what to do next and
// nothing about which check failed.
const SERVER_MESSAGES = {
  ACTIVATION_FAILED: "auth.error.activation",
  RECOVERY_FAILED: "auth.error.recovery",
  DEVICE_LINK_INVALID: "auth.error.link",
  PASSKEY_UNKNOWN: "auth.error.unknownPasskey",
  VERIFICATION_FAILED: "auth.error.verification",
  CHALLENGE_INVALID: "auth.error.expired",
  SIGN_COUNT_INVALID: "auth.error.signCount",
  MALFORMED_CREDENTIAL: "auth.error.malformed",
  PAYLOAD_TOO_LARGE: "auth.error.malformed",
  PASSKEY_ALREADY_REGISTERED: "auth.error.alreadyRegistered",
  UNAUTHENTICATED: "auth.error.sessionEnded",
  SERVICE_UNAVAILABLE: "auth.error.unavailable", // an outage (503): nothing to fix, try later
};

// PasskeyError codes (passkeys.js) -> message keys.
const BROWSER_MESSAGES = {
  CANCELLED: "auth.error.cancelled",
  ALREADY_REGISTERED: "auth.error.alreadyOnDevice",
  SECURITY: "auth.error.security",
  UNSUPPORTED: "auth.error.unsupported",
  FAILED: "auth.error.browser",
};

/** A refusal as { key, params } for t(): kept untranslated so a language switch re-renders it. */
export function describeError(error) {
  if (error instanceof PasskeyError) {
    return { key: BROWSER_MESSAGES[error.code] ?? "auth.error.browser", params: {} };
  }
  if (error instanceof NetworkError) return { key: "auth.error.offline", params: {} };
  if (error instanceof ApiError) {
    if (error.code === "RATE_LIMITED") {
      const wait = fmt.duration(error.retryAfter ?? 60, getLanguage());
      return { key: "auth.error.rateLimited", params: { wait } };
    }
    if (SERVER_MESSAGES[error.code]) return { key: SERVER_MESSAGES[error.code], params: {} };
  }
  console.warn(error);
  return { key: "auth.error.generic", params: {} };
}

/** The form-level message: focusable, so that it can take focus after a failed attempt. */
export function formError(id, message) {
  if (!message) return null;
  return h(
    "div",
    { id, class: "alert", role: "alert", tabindex: "-1" },
    h("p", {}, t(message.key, message.params)),
  );
}

/**
 * A labelled control with an optional hint and error, wired up with aria-describedby:
 * field({ id, label, hint, error }, input). The input gets `id`.
 */
export function field({ id, label, hint = null, error = null, optional = false }, input) {
  const described = [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean);
  input.id = id;
  if (described.length) input.setAttribute("aria-describedby", described.join(" "));
  if (error) input.setAttribute("aria-invalid", "true");
  return h(
    "div",
    { class: error ? "field field-invalid" : "field" },
    h("label", { for: id }, label, optional ? h("span", { class: "optional" }, ` ${t("form.optional")}`) : null),
    hint ? h("p", { id: `${id}-hint`, class: "hint" }, hint) : null,
    error ? h("p", { id: `${id}-error`, class: "field-error" }, t(error.key, error.params)) : null,
    input,
  );
}

/** Only the characters that count in a code: upper case, look-alikes mapped, no separators. */
export function codeCharacters(value) {
  // Crockford base32 has no I, L, O, U: what people read from paper comes back right.
  return value
    .toUpperCase()
    .replace(/[OIL]/g, (c) => (c === "O" ? "0" : "1"))
    .replace(/[^0-9A-Z]/g, "");
}

/** "abcd efgh…" as "ABCD-EFGH-…", at most groups × size characters. */
export function groupCode(value, { groups, size }) {
  const chars = codeCharacters(value).slice(0, groups * size);
  return chars.match(new RegExp(`.{1,${size}}`, "g"))?.join("-") ?? "";
}

/**
 * A text input for an activation code or recovery key that forgives case, spaces and dashes
 * and shows the characters grouped as on paper, keeping the caret where the person types.
 */
export function codeInput({ groups, size, value = "", autofocus = false }) {
  const input = h("input", {
    type: "text",
    class: "input input-code",
    autocomplete: "off",
    autocapitalize: "characters",
    autocorrect: "off",
    spellcheck: "false",
    inputmode: "text",
    value: groupCode(value, { groups, size }),
    autofocus,
  });
  input.addEventListener("input", () => {
    const caret = input.selectionStart ?? input.value.length;
    const before = codeCharacters(input.value.slice(0, caret)).length;
    const formatted = groupCode(input.value, { groups, size });
    if (formatted === input.value) return;
    input.value = formatted;
    let position = 0;
    for (let seen = 0; position < formatted.length && seen < before; position += 1) {
      if (formatted[position] !== "-") seen += 1;
    }
    input.setSelectionRange(position, position);
  });
  return input;
}

/** Button that shows it is working: disabled with a "please wait" text while busy. */
export function submitButton(text, { busy = false, id = null, secondary = false } = {}) {
  return h(
    "button",
    {
      type: "submit",
      id,
      class: secondary ? "button button-secondary" : "button",
      disabled: busy,
      "aria-disabled": busy ? "true" : null,
    },
    busy ? t("form.wait") : text,
  );
}

/** Values of a form's named controls, trimmed. */
export function formValues(form) {
  const values = {};
  for (const [name, value] of new FormData(form)) values[name] = String(value).trim();
  return values;
}

/** Move focus to the form error (by id), else to the first invalid field, after a re-render. */
export function focusProblem(errorId = null) {
  const target =
    (errorId && document.getElementById(errorId)) ??
    document.querySelector("#view [aria-invalid='true']");
  target?.focus();
}
