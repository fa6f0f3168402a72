// The signed-out screens as DOM: sign in, activation, recovery, device link, and the recovery
// key shown once. No state and no fetching here: js/signin.js owns both.

import { linkFacts } from "./device-link.js";
import { h } from "./dom.js";
import { codeInput, field, formError, submitButton } from "./fields.js";
import * as fmt from "./format.js";
import { getLanguage, t, tp } from "./i18n.js";
import { title } from "./views.js";

export const ACTIVATION_CODE = { groups: 4, size: 4 }; // auth/activation.py: 80 bits
export const RECOVERY_KEY = { groups: 5, size: 5 }; // auth/recovery.py: 125 bits

// What the person is asked to do while a ceremony runs (ui.step, from passkeys.js).
const STEP_MESSAGES = {
  checking: "auth.step.checking",
  device: "auth.step.create",
  saving: "auth.step.saving",
};

export function stepMessage(step, { signIn = false } = {}) {
  if (signIn) return step === "device" ? "auth.step.choose" : "auth.step.signingIn";
  return STEP_MESSAGES[step];
}

function progress(ui, options) {
  if (!ui.busy || !ui.step) return null;
  return h("p", { class: "progress loading" }, t(stepMessage(ui.step, options)));
}

function backToSignIn() {
  return h("p", { class: "back" }, h("a", { href: "#/" }, t("auth.back")));
}

/** Where the person is in a three-step flow; `current` counts from 1. */
function steps(keys, current) {
  return h(
    "ol",
    { class: "steps", "aria-label": t("steps.label") },
    keys.map((key, index) =>
      h(
        "li",
        {
          class: index + 1 === current ? "current" : index + 1 < current ? "done" : null,
          "aria-current": index + 1 === current ? "step" : null,
        },
        t(key),
      ),
    ),
  );
}

const ACTIVATION_STEPS = ["steps.code", "steps.passkey", "steps.recoveryKey"];
const RECOVERY_STEPS = ["steps.key", "steps.newPasskey", "steps.newRecoveryKey"];

function stepNumber(ui) {
  return ui.busy && ui.step !== "checking" ? 2 : 1;
}

/**
 * Forms the person last signed in here has not sent, kept on this device for their next
 * sign-in (js/outbox.js waitingOnDevice()): what they are and what to do about them.
 */
function waitingNotice(waiting) {
  if (!waiting || waiting.forms + waiting.drafts === 0) return null;
  return h(
    "div",
    { class: "warning", id: "outbox-waiting" },
    h(
      "p",
      { class: "warning-text" },
      waiting.forms > 0 ? tp("signin.waitingForms", waiting.forms) : tp("signin.waitingDrafts", waiting.drafts),
      waiting.attention > 0 ? ` ${t("signin.waitingAttention")}` : null,
    ),
    h("p", {}, t("signin.waitingNotYou")),
  );
}

/** Sign in: the passkey button, and the autofill field where the browser offers passkeys. */
export function signInView(ui, { autofill, onSignIn, pending = false, waiting = null }) {
  const submit = (event) => {
    event.preventDefault();
    onSignIn();
  };
  return [
    title(t("signin.title")),
    waitingNotice(waiting),
    h("p", { class: "lead" }, t("signin.text")),
    h(
      "section",
      { id: "signin", class: "card", "aria-labelledby": "signin-title" },
      h("h2", { id: "signin-title" }, t("signin.passkeyTitle")),
      h("p", {}, t("signin.passkey")),
      formError("signin-error", ui.error),
      h(
        "form",
        { id: "signin-form", class: "form", novalidate: true, on: { submit } },
        // The "webauthn" token makes the browser list this site's passkeys in the field's
        // autofill, for the conditional request js/signin.js keeps pending.
        autofill
          ? field(
              { id: "signin-username", label: t("signin.username"), hint: t("signin.usernameHint"), optional: true },
              h("input", {
                type: "text",
                name: "username",
                class: "input",
                autocomplete: "username webauthn",
                autocapitalize: "characters",
                spellcheck: "false",
              }),
            )
          : null,
        submitButton(t("signin.button"), { busy: ui.busy, id: "signin-button" }),
        progress(ui, { signIn: true }),
      ),
    ),
    h(
      "section",
      { id: "no-passkey", class: "card", "aria-labelledby": "no-passkey-title" },
      h("h2", { id: "no-passkey-title" }, t("signin.noPasskeyTitle")),
      h(
        "ul",
        { class: "link-list" },
        h(
          "li",
          {},
          h("a", { href: "#/activate" }, t("signin.activate")),
          h("p", { class: "note" }, t("signin.activateText")),
        ),
        h(
          "li",
          {},
          h("a", { href: "#/access", id: "request-access" }, t(pending ? "signin.accessPending" : "signin.access")),
          h("p", { class: "note" }, t(pending ? "signin.accessPendingText" : "signin.accessText")),
        ),
        h(
          "li",
          {},
          h("a", { href: "#/recover" }, t("signin.recover")),
          h("p", { class: "note" }, t("signin.recoverText")),
        ),
      ),
    ),
  ];
}

/** Activation: code from DUO + date of birth, then the passkey (steps 1 and 2 of 3). */
export function activateView(ui, { onSubmit }) {
  const today = new Date().toISOString().slice(0, 10);
  return [
    title(t("activate.title")),
    steps(ACTIVATION_STEPS, stepNumber(ui)),
    h("p", { class: "lead" }, t("activate.text")),
    formCard(
      { id: "activation", formId: "activation-form", errorId: "activation-error" },
      t("activate.formTitle"),
      ui,
      onSubmit,
      [
        field(
          { id: "activation-code", label: t("activate.code"), hint: t("activate.codeHint"), error: ui.fieldErrors.code },
          Object.assign(codeInput(ACTIVATION_CODE), { name: "code" }),
        ),
        field(
          { id: "activation-dob", label: t("activate.dob"), hint: t("activate.dobHint"), error: ui.fieldErrors.dateOfBirth },
          h("input", {
            type: "date",
            name: "dateOfBirth",
            class: "input input-date",
            autocomplete: "bday",
            min: "1900-01-01",
            max: today,
          }),
        ),
        submitButton(t("activate.submit"), { busy: ui.busy, id: "activation-submit" }),
      ],
      h("p", { class: "note" }, t("activate.rules")),
    ),
    backToSignIn(),
  ];
}

/** Recovery: the recovery key, then a new passkey (steps 1 and 2 of 3). */
export function recoverView(ui, { onSubmit }) {
  return [
    title(t("recover.title")),
    steps(RECOVERY_STEPS, stepNumber(ui)),
    h("p", { class: "lead" }, t("recover.text")),
    formCard(
      { id: "recovery", formId: "recovery-form", errorId: "recovery-error" },
      t("recover.formTitle"),
      ui,
      onSubmit,
      [
        field(
          { id: "recovery-key-input", label: t("recover.key"), hint: t("recover.keyHint"), error: ui.fieldErrors.recoveryKey },
          Object.assign(codeInput(RECOVERY_KEY), { name: "recoveryKey" }),
        ),
        submitButton(t("recover.submit"), { busy: ui.busy, id: "recovery-submit" }),
      ],
      h("p", { class: "note" }, t("recover.noKey")),
    ),
    backToSignIn(),
  ];
}

/** The second device, opened from a link or QR code made on a signed-in device. */
export function deviceLinkView(ui, link, { onCreate }) {
  const usable = link.status === "ok";
  return [
    title(t("link.title")),
    h("p", { class: "lead" }, t("link.text")),
    h(
      "section",
      { id: "device-link", class: "card", "aria-labelledby": "device-link-title" },
      h("h2", { id: "device-link-title" }, t("link.formTitle")),
      formError("device-link-error", ui.error),
      // The link is checked first: no button for a link that cannot work (#16 item 16).
      linkFacts(link),
      !usable
        ? null
        : h(
        "form",
        {
          class: "form",
          novalidate: true,
          on: {
            submit: (event) => {
              event.preventDefault();
              onCreate();
            },
          },
        },
        submitButton(t("link.submit"), { busy: ui.busy, id: "device-link-submit" }),
        progress(ui),
          ),
      h("p", { class: "note" }, t("link.rules")),
    ),
    backToSignIn(),
  ];
}

/**
 * The recovery key, shown this once (after activation, recovery or renewal): copy, print,
 * and an explicit "I have saved it" before moving on.
 */
export function recoveryKeyView(ui, { recoveryKey, passkeyName, reason }, handlers) {
  const lang = getLanguage();
  const flow = reason === "activation" ? ACTIVATION_STEPS : reason === "recovery" ? RECOVERY_STEPS : null;
  return [
    title(t("recoveryKey.title")),
    flow ? steps(flow, 3) : null,
    passkeyName
      ? h("p", { class: "success" }, t("recoveryKey.passkeyReady", { name: passkeyName }))
      : null,
    h("p", { class: "lead" }, t("recoveryKey.text")),
    h(
      "section",
      { id: "recovery-key-card", class: "card key-card", "aria-labelledby": "recovery-key-label" },
      h("h2", { id: "recovery-key-label" }, t("recoveryKey.label")),
      h("p", { class: "print-only" }, t("recoveryKey.printed", { date: fmt.timestamp(Date.now(), lang) })),
      h(
        "p",
        { id: "recovery-key", class: "recovery-key mono", translate: "no" },
        recoveryKey,
      ),
      h(
        "div",
        { class: "actions no-print" },
        h(
          "button",
          { type: "button", id: "copy-key", class: "button button-secondary", on: { click: handlers.onCopy } },
          t("recoveryKey.copy"),
        ),
        h(
          "button",
          { type: "button", id: "print-key", class: "button button-secondary", on: { click: handlers.onPrint } },
          t("recoveryKey.print"),
        ),
      ),
      h(
        "div",
        { class: "warning" },
        h("p", {}, h("strong", {}, t("recoveryKey.once"))),
        h("p", {}, t("recoveryKey.keepSafe")),
      ),
    ),
    h(
      "form",
      {
        id: "recovery-key-form",
        class: "form card no-print",
        novalidate: true,
        on: {
          submit: (event) => {
            event.preventDefault();
            handlers.onContinue(event.currentTarget);
          },
        },
      },
      ui.fieldErrors.saved
        ? h("p", { id: "key-saved-error", class: "field-error" }, t(ui.fieldErrors.saved.key))
        : null,
      h(
        "div",
        { class: ui.fieldErrors.saved ? "checkbox field-invalid" : "checkbox" },
        h("input", {
          type: "checkbox",
          id: "key-saved",
          name: "saved",
          value: "yes",
          "aria-invalid": ui.fieldErrors.saved ? "true" : null,
          "aria-describedby": ui.fieldErrors.saved ? "key-saved-error" : null,
        }),
        h("label", { for: "key-saved" }, t("recoveryKey.confirm")),
      ),
      submitButton(t("recoveryKey.continue"), { id: "recovery-key-continue" }),
    ),
  ];
}

/** A card holding one sign-in form: heading, error summary, the fields, progress, a note. */
function formCard({ id, formId, errorId }, heading, ui, onSubmit, controls, note) {
  return h(
    "section",
    { id, class: "card", "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, heading),
    formError(errorId, ui.error),
    h(
      "form",
      {
        id: formId,
        class: "form",
        novalidate: true,
        on: {
          submit: (event) => {
            event.preventDefault();
            onSubmit(event.currentTarget);
          },
        },
      },
      ...controls,
      progress(ui),
    ),
    note,
  );
}
