// The security page as DOM: passkeys, adding one (here or on another device), the recovery
// key; its sessions and audit trail are in activity-views.js. js/security.js owns the state
// and the requests.

import { eventsSection, sessionsSection } from "./activity-views.js";
import { h } from "./dom.js";
import { passkeysHere } from "./passkeys.js";
import { codeInput, field, formError, formValues, submitButton } from "./fields.js";
import { t, tParts } from "./i18n.js";
import { RECOVERY_KEY } from "./signin-views.js";
import { button, moment, section, title } from "./views.js";

/** "9:41" until the moment `expiresAt` (ms), never below 0:00. */
export function countdown(expiresAt, now = Date.now()) {
  const seconds = Math.max(0, Math.ceil((expiresAt - now) / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

function onSubmit(handler) {
  return {
    submit: (event) => {
      event.preventDefault();
      handler(formValues(event.currentTarget));
    },
  };
}

export function securityView(status, data, ui, handlers) {
  const head = [
    title(t("security.title")),
    h("p", { class: "back" }, h("a", { href: "#/" }, t("security.back"))),
  ];
  if (status === "loading") {
    return [...head, h("p", { class: "loading" }, t("security.loading"))];
  }
  if (status !== "ready") {
    return [
      ...head,
      h("p", { class: "lead" }, t(status === "offline" ? "security.offline" : "error.text")),
      button(t("error.retry"), { id: "security-retry", onClick: handlers.onRetry, secondary: false }),
    ];
  }
  return [
    ...head,
    data.needsSecondPasskey ? nudge(ui, handlers) : null,
    passkeysSection(data.passkeys, ui, handlers),
    addSection(ui, handlers),
    recoverySection(data.hasRecoveryKey, ui, handlers),
    sessionsSection(data.sessions, ui, handlers),
    eventsSection(data.securityEvents.nodes),
  ];
}

function nudge(ui, handlers) {
  return h(
    "div",
    { id: "nudge", class: "banner nudge" },
    h("p", {}, t("security.nudgeTitle")),
    h("p", { class: "nudge-text" }, t("security.nudgeText")),
    // While a link is open, the panel below is what to act on.
    ui.link
      ? null
      : button(t("security.addOther"), {
          id: "nudge-add-other",
          onClick: handlers.onCreateLink,
          busy: ui.busy === "link",
          secondary: false,
        }),
  );
}

function passkeysSection(passkeys, ui, handlers) {
  const here = passkeysHere();
  return section(
    "passkeys",
    t("security.passkeysTitle"),
    h("p", { class: "note" }, t("security.passkeysText")),
    formError("passkeys-error", ui.errors.passkeys),
    h(
      "ul",
      { class: "list passkeys" },
      passkeys.map((passkey) => passkeyItem(passkey, passkeys.length === 1, ui, handlers, here)),
    ),
  );
}

function passkeyItem(passkey, isLast, ui, handlers, here) {
  const kind = passkey.synced
    ? "security.synced"
    : passkey.deviceBound
      ? "security.deviceBound"
      : "security.notBackedUp";
  let controls;
  if (ui.editing === passkey.id) controls = renameForm(passkey, ui, handlers);
  else if (ui.removing === passkey.id) controls = removeForm(passkey, isLast, ui, handlers);
  else {
    controls = h(
      "div",
      { class: "actions" },
      button(t("security.rename"), {
        id: `rename-${passkey.id}`,
        label: t("security.renameLabel", { name: passkey.name }),
        onClick: () => handlers.onStartRename(passkey.id),
      }),
      button(t("security.remove"), {
        id: `remove-${passkey.id}`,
        label: t("security.removeLabel", { name: passkey.name }),
        onClick: () => handlers.onStartRemove(passkey.id),
      }),
    );
  }
  return h(
    "li",
    { id: `passkey-${passkey.id}`, class: "passkey" },
    h("h3", { class: "passkey-name" }, passkey.name),
    h(
      "p",
      {},
      h("span", { class: passkey.synced ? "tag tag-synced" : "tag" }, t(kind)),
      here.has(passkey.id) ? [" ", h("span", { class: "tag tag-here" }, t("security.thisDevice"))] : null,
    ),
    h(
      "p",
      { class: "note" },
      tParts("security.added", { date: moment(passkey.createdAt) }),
      " · ",
      passkey.lastUsedAt
        ? tParts("security.lastUsed", { date: moment(passkey.lastUsedAt) })
        : t("security.neverUsed"),
    ),
    controls,
  );
}

function renameForm(passkey, ui, handlers) {
  return h(
    "form",
    {
      id: `rename-form-${passkey.id}`,
      class: "form inline-form",
      novalidate: true,
      on: onSubmit((values) => handlers.onRename(passkey.id, values.name)),
    },
    // Right after creating it: a name the person will recognise (#16 item 8).
    ui.justAdded === passkey.id
      ? h("p", { class: "note", id: `rename-prompt-${passkey.id}` }, t("security.renamePrompt"))
      : null,
    field(
      { id: `rename-input-${passkey.id}`, label: t("security.newName"), error: ui.errors.rename },
      h("input", {
        type: "text",
        name: "name",
        class: "input",
        value: passkey.name,
        maxlength: "64",
        autocomplete: "off",
      }),
    ),
    h(
      "div",
      { class: "actions" },
      submitButton(t("security.save"), { busy: ui.busy === "rename", id: `rename-save-${passkey.id}` }),
      button(t("security.cancel"), { onClick: () => handlers.onCancel(`rename-${passkey.id}`) }),
    ),
  );
}

function removeForm(passkey, isLast, ui, handlers) {
  return h(
    "form",
    {
      id: `remove-form-${passkey.id}`,
      class: "form inline-form confirm",
      novalidate: true,
      on: onSubmit((values) => handlers.onRemove(passkey.id, values.recoveryKey ?? null)),
    },
    h(
      "p",
      { id: `remove-text-${passkey.id}`, tabindex: "-1" },
      t("security.removeConfirm", { name: passkey.name }),
    ),
    formError(`remove-error-${passkey.id}`, ui.errors.remove),
    isLast
      ? field(
          {
            id: `remove-key-${passkey.id}`,
            label: t("security.removeKey"),
            hint: t("security.removeKeyHint"),
            error: ui.errors.removeKey,
          },
          Object.assign(codeInput(RECOVERY_KEY), { name: "recoveryKey" }),
        )
      : null,
    h(
      "div",
      { class: "actions" },
      h(
        "button",
        {
          type: "submit",
          id: `remove-confirm-${passkey.id}`,
          class: "button button-danger",
          disabled: ui.busy === "remove",
        },
        ui.busy === "remove" ? t("form.wait") : t("security.removeSubmit"),
      ),
      button(t("security.cancel"), { onClick: () => handlers.onCancel(`remove-${passkey.id}`) }),
    ),
  );
}

function addSection(ui, handlers) {
  return section(
    "add-passkey",
    t("security.addTitle"),
    h("p", {}, t("security.addText")),
    formError("add-error", ui.errors.add),
    h(
      "div",
      { class: "actions" },
      button(t("security.addHere"), {
        id: "add-here",
        onClick: handlers.onAddHere,
        busy: ui.busy === "add",
        secondary: false,
      }),
      button(t("security.addOther"), {
        id: "add-other",
        onClick: handlers.onCreateLink,
        busy: ui.busy === "link",
      }),
    ),
    ui.link ? linkPanel(ui.link, handlers) : null,
  );
}

function linkPanel(link, handlers) {
  const heading = h(
    "h3",
    { id: "device-link-title", tabindex: "-1" },
    t("security.linkTitle"),
  );
  if (link.expired) {
    return h(
      "div",
      { id: "device-link-panel", class: "link-panel" },
      heading,
      h("p", {}, t("security.linkExpired")),
      h(
        "div",
        { class: "actions" },
        button(t("security.linkAgain"), { id: "link-again", onClick: handlers.onCreateLink, secondary: false }),
        button(t("security.done"), { id: "link-done", onClick: handlers.onCloseLink }),
      ),
    );
  }
  return h(
    "div",
    { id: "device-link-panel", class: "link-panel" },
    heading,
    h("p", {}, t("security.linkText")),
    h("img", {
      class: "qr",
      src: link.qrSvgDataUri,
      alt: t("security.qrAlt"),
      width: "200",
      height: "200",
    }),
    field(
      { id: "device-link-url", label: t("security.linkUrl") },
      h("input", { type: "text", class: "input input-url", value: link.url, readonly: true }),
    ),
    h(
      "p",
      { class: "note" },
      tParts("security.linkExpires", {
        time: h(
          "span",
          { id: "device-link-countdown", role: "timer", class: "countdown" },
          countdown(link.expiresAtMs),
        ),
      }),
    ),
    h(
      "div",
      { class: "actions" },
      button(t("security.copyLink"), { id: "copy-link", onClick: handlers.onCopyLink }),
      button(t("security.done"), { id: "link-done", onClick: handlers.onCloseLink }),
    ),
  );
}

function recoverySection(hasRecoveryKey, ui, handlers) {
  return section(
    "recovery",
    t("security.recoveryTitle"),
    h(
      "p",
      { class: hasRecoveryKey ? null : "warning-text" },
      t(hasRecoveryKey ? "security.recoveryHave" : "security.recoveryNone"),
    ),
    formError("renew-error", ui.errors.renew),
    ui.confirmRenew
      ? h(
          "div",
          { class: "confirm" },
          h("p", { id: "renew-text", tabindex: "-1" }, t("security.renewConfirm")),
          h(
            "div",
            { class: "actions" },
            button(t("security.renewSubmit"), {
              id: "renew-confirm",
              onClick: handlers.onRenew,
              busy: ui.busy === "renew",
              secondary: false,
            }),
            button(t("security.cancel"), { onClick: () => handlers.onCancel("renew") }),
          ),
        )
      : button(t("security.renew"), { id: "renew", onClick: handlers.onStartRenew }),
  );
}
