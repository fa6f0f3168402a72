// Before signing out with forms that have not reached DUO, the person decides what happens to
// them: send them first, keep them on this device until they sign in again, or discard them
// (README.md, Forms, "What the outbox guarantees"). app.js shows this page instead of signing
// out at once when outbox.waitingOnDevice() finds any.

import { h } from "./dom.js";
import { text } from "./form-render.js";
import * as fmt from "./format.js";
import { getLanguage, t, tp } from "./i18n.js";
import * as draftStore from "./drafts.js";
import * as outbox from "./outbox.js";
import { WAITING_STATES } from "./store.js";
import { title } from "./views.js";

const QUEUED = new Set(["queued", "sending"]);

/**
 * The page { render, enter, leave } for app.js's router. host: { render, show, announce,
 * sessionEnded(), completeSignOut({ keepWaiting, message }) }.
 */
export function signOutPage(host) {
  let entries = null; // the waiting outbox entries, null while loading
  let drafts = [];
  let back = "dashboard";
  let busy = false;
  let outcome = null; // locale key: what the last "send first" left

  async function load() {
    const [all, saved] = await Promise.all([
      outbox.listOutbox().catch(() => []),
      draftStore.listDrafts().catch(() => []),
    ]);
    entries = all.filter((e) => WAITING_STATES.has(e.state));
    drafts = saved;
  }

  async function sendFirst() {
    if (busy) return;
    busy = true;
    outcome = null;
    host.render();
    host.announce(t("signOut.sending"));
    const { result } = await outbox.replayAndCount();
    busy = false;
    if (result === "signedOut") {
      host.sessionEnded();
      return;
    }
    await load();
    if (entries.length === 0 && drafts.length === 0) {
      host.completeSignOut({ keepWaiting: false, message: "status.signedOutSent" });
      return;
    }
    const queued = entries.filter((e) => QUEUED.has(e.state)).length;
    outcome = queued === 0 ? "signOut.sentSome" : result === "offline" ? "signOut.offline" : "signOut.notNow";
    host.render();
    host.announce("");
    document.getElementById("sign-out-outcome")?.focus();
  }

  function decide(keepWaiting) {
    if (busy) return;
    busy = true;
    // Kept: app.js says how many wait for the next sign-in.
    host.completeSignOut({ keepWaiting, message: keepWaiting ? null : "status.signedOutDiscarded" });
  }

  function view() {
    if (entries === null) return [title(t("signOut.title")), h("p", { class: "loading" }, t("loading.text"))];
    const queued = entries.filter((e) => QUEUED.has(e.state)).length;
    const choice = (id, label, note, onClick, style = "button") =>
      h(
        "div",
        { class: "choice" },
        h(
          "button",
          { type: "button", id, class: style, disabled: busy, "aria-describedby": `${id}-note`, on: { click: onClick } },
          label,
        ),
        h("p", { class: "note", id: `${id}-note` }, note),
      );
    return [
      title(t("signOut.title")),
      h(
        "p",
        { class: "lead", id: "sign-out-waiting" },
        entries.length > 0 ? tp("signOut.forms", entries.length) : null,
        entries.length > 0 && drafts.length > 0 ? " " : null,
        drafts.length > 0 ? tp("signOut.drafts", drafts.length) : null,
      ),
      h(
        "ul",
        { class: "list", "aria-labelledby": "sign-out-waiting" },
        entries.map((e) =>
          h(
            "li",
            {},
            text(e.title),
            " ",
            h("span", { class: "tag" }, t(`forms.state.${e.state}`)),
            h("span", { class: "note" }, ` ${t("signOut.queuedAt", { time: fmt.timestamp(e.queuedAt, getLanguage()) })}`),
          ),
        ),
        drafts.map((d) => h("li", {}, text(d.definition?.title), " ", h("span", { class: "tag" }, t("forms.state.draft")))),
      ),
      outcome
        ? h("p", { class: "alert", id: "sign-out-outcome", tabindex: "-1", role: "alert" }, t(outcome))
        : null,
      h(
        "section",
        { class: "card", "aria-labelledby": "sign-out-choices" },
        h("h2", { id: "sign-out-choices" }, t("signOut.choose")),
        queued > 0
          ? choice("sign-out-send", t(busy ? "signOut.sending" : "signOut.send"), t("signOut.sendNote"), sendFirst)
          : null,
        choice("sign-out-keep", t("signOut.keep"), t("signOut.keepNote"), () => decide(true)),
        choice("sign-out-discard", t("signOut.discard"), t("signOut.discardNote"), () => decide(false), "button button-danger"),
        h(
          "div",
          { class: "choice" },
          h(
            "button",
            { type: "button", id: "sign-out-cancel", class: "button button-secondary", disabled: busy, on: { click: () => host.show(back, { focus: true }) } },
            t("signOut.cancel"),
          ),
        ),
      ),
    ];
  }

  return {
    enter(options) {
      back = options.back ?? "dashboard";
      outcome = null;
      busy = false;
      load().then(() => host.render());
    },
    leave() {
      entries = null;
      drafts = [];
      busy = false;
    },
    render: view,
  };
}
