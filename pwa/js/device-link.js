// The device-link page's check (#16 item 16): before offering "Create a passkey", ask the
// server whether the link still works (it uses nothing), say until when and for whose account,
// and, on a device that is already signed in, who is signed in here now.

import { ApiError, isUnauthenticated, NetworkError, postJson, query } from "./api.js";
import { h } from "./dom.js";
import { getLanguage, t } from "./i18n.js";

const TICK_MS = 15_000;

/**
 * Check `token`; calls `update()` whenever what the page should say changes. Returns a stop
 * function (the page's leave). The state: { status: "checking" | "ok" | "invalid" | "offline",
 * expiresAt, accountName, signedInAs }.
 */
export function watchLink(token, state, update) {
  let timer = null;
  state.status = token ? "checking" : "invalid";
  state.signedInAs = null;
  if (token) {
    postJson("/auth/device-link/check", { token })
      .then((answer) => {
        state.status = "ok";
        state.expiresAt = Date.parse(answer.expiresAt);
        state.accountName = answer.accountName;
        // The time left counts down on the page; at zero the button goes.
        timer = setInterval(() => {
          if (Date.now() >= state.expiresAt) {
            state.status = "invalid";
            clearInterval(timer);
          }
          update();
        }, TICK_MS);
      })
      .catch((error) => {
        state.status = error instanceof NetworkError ? "offline" : error instanceof ApiError ? "invalid" : "offline";
      })
      .finally(update);
  }
  // Signed in here already? Then the page says so, beside whose account the link adds to.
  query("Dashboard")
    .then((data) => {
      const person = data.viewer.person;
      state.signedInAs = `${person.givenNames} ${person.familyName}`;
      update();
    })
    .catch((error) => (isUnauthenticated(error) ? undefined : console.warn(error)));
  return () => clearInterval(timer);
}

/** "in 9 minutes" / "over 9 minuten" (at least a minute while the link works). */
function timeLeft(expiresAt) {
  const seconds = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
  const [value, unit] = seconds < 60 ? [seconds, "second"] : [Math.ceil(seconds / 60), "minute"];
  return new Intl.RelativeTimeFormat(getLanguage() === "nl" ? "nl-NL" : "en-GB", { numeric: "always" }).format(
    value,
    unit,
  );
}

/** What the page says about the link, before (and instead of) the button. */
export function linkFacts(state) {
  if (state.status === "checking") return h("p", { class: "loading", id: "device-link-status" }, t("link.checking"));
  if (state.status === "offline") return h("p", { class: "alert", id: "device-link-status" }, t("link.offline"));
  if (state.status === "invalid") {
    return h(
      "div",
      { class: "alert", id: "device-link-status", role: "alert" },
      h("p", {}, t("link.invalid")),
    );
  }
  return h(
    "div",
    { id: "device-link-status" },
    h("p", {}, t("link.account", { name: state.accountName })),
    state.signedInAs ? h("p", { class: "warning" }, t("link.signedInAs", { name: state.signedInAs, account: state.accountName })) : null,
    h("p", { class: "note" }, t("link.expires", { time: timeLeft(state.expiresAt) })),
  );
}
