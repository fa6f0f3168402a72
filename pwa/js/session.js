// Sessions on this device: a sign-in, a sign-out (which first asks what happens to forms that
// have not reached DUO: sign-out.js), and a session that ended without the person's doing.
// In each, what was shown goes; forms that wait to be sent go only by the person's decision
// (README.md, Forms, "What the outbox guarantees").

import { isUnauthenticated, mutate } from "./api.js";
import { t, tp } from "./i18n.js";
import * as outbox from "./outbox.js";
import { pendingSignOut, pendingSignOutKeeps, setPendingSignOut } from "./sign-out-flag.js";
import { clearPersonalData } from "./store.js";
import { currentVault, forgetOwner, learnVault } from "./vault.js";

/**
 * The flows, for app.js. app: { state, el, tabs, show, render, announce, refresh(),
 * shows(view) (a view with the person's data, or of the home route), resumeSignIn(),
 * saveDraft() (the open form's draft, sealed while the key is still there) }.
 */
export function sessionFlows(app) {
  const { state, el, tabs, show, render, announce } = app;

  function warn(error) {
    console.warn(error);
    return undefined;
  }

  async function forgetPersonalData({ keepWaiting = false } = {}) {
    if (keepWaiting) await Promise.resolve(app.saveDraft()).catch(warn);
    state.viewer = null;
    state.fetchedAt = null;
    state.offline = false;
    await clearPersonalData({ keepWaiting }).catch(warn);
  }

  /** What waits on this device for the person last signed in: the sign-in page says it. */
  async function countWaiting() {
    state.waiting = await outbox.waitingOnDevice().catch(warn);
    if (state.view === "signedOut") render();
  }

  /**
   * The session ended (idle or absolute timeout, revoked, signed out elsewhere): what it
   * showed goes, but not the forms waiting to be sent: nobody decided about them. They stay
   * sealed on this device and go out after this person signs in again.
   */
  async function sessionEnded() {
    if (pendingSignOut()) return; // a sign-out is under way: it says what happens
    const already = state.signedOut && state.view === "signedOut";
    // This device still took the person for signed in (else a sign-out, or the service
    // worker, already ended it here: the sign-in page says what waits, nothing to announce).
    const news = Boolean((await currentVault().catch(() => null))?.key);
    state.generation += 1;
    await forgetPersonalData({ keepWaiting: true });
    state.signedOut = true;
    await countWaiting();
    // Pages of the signed-out flows stay (someone may be halfway through activating).
    if (!already && app.shows(state.view)) {
      if (location.hash.startsWith("#/")) history.replaceState(null, "", "/");
      show("signedOut");
      const forms = state.waiting?.forms ?? 0;
      if (!news) announce("");
      else announce(forms > 0 ? tp("status.sessionEndedWaiting", forms) : t("status.sessionEnded"));
    }
  }

  /** The header's "Sign out": with forms that have not reached DUO, ask first (sign-out.js). */
  async function signOut() {
    if (state.view === "signOutChoice") return;
    const waiting = await outbox.waitingOnDevice().catch(warn);
    if (waiting && waiting.forms + waiting.drafts > 0) {
      show("signOutChoice", { focus: true, back: state.view });
      return;
    }
    await completeSignOut({ keepWaiting: false });
  }

  /**
   * Sign out now. `keepWaiting`: the person's waiting forms stay on this device, sealed, for
   * their next sign-in here; otherwise they are discarded with everything else. `message`:
   * what to say once done (else the app says what was kept).
   */
  async function completeSignOut({ keepWaiting, message = null }) {
    state.generation += 1;
    el.signOut.disabled = true;
    // Marked before the first await: a refresh that starts meanwhile (a poll, `online`) must
    // not fetch the dashboard with the still-valid cookie and show it again.
    setPendingSignOut(true, { keepWaiting });
    // Local data first: on a shared device it must go even if the server cannot be reached.
    await forgetPersonalData({ keepWaiting });
    tabs?.postMessage({ type: "signed-out" });
    if (location.hash.startsWith("#/")) history.replaceState(null, "", "/");
    await countWaiting();
    // Passkey autofill waits until the server has ended this session (see below).
    show("signedOut", { focus: true, autofill: false });
    await finishSignOut({ keepWaiting, message });
    el.signOut.disabled = false;
    // A sign-in must not race the sign-out request: it would end the new session instead.
    if (state.view === "signedOut") app.resumeSignIn();
  }

  /** The server's part of a sign-out (again at the next start if it could not be reached). */
  async function finishSignOut({ keepWaiting = pendingSignOutKeeps(), message = null } = {}) {
    let pending = false;
    try {
      await mutate("SignOut");
      setPendingSignOut(false);
    } catch (error) {
      if (isUnauthenticated(error)) setPendingSignOut(false); // the session had already ended
      else pending = true;
    }
    // Again after the request: another open tab may have stored its copy in the meantime.
    await forgetPersonalData({ keepWaiting });
    state.signedOut = true;
    await countWaiting();
    if (app.shows(state.view)) {
      if (state.view !== "signedOut") show("signedOut");
      const kept = (state.waiting?.forms ?? 0) + (state.waiting?.drafts ?? 0);
      if (pending) announce(t("status.signOutPending"));
      else if (message) announce(t(message));
      else if (keepWaiting && kept > 0) announce(tp("status.signedOutKept", kept));
      else announce(t("status.signedOut"));
    }
  }

  /**
   * "Sign out everywhere" succeeded on the server (security page): now this device. Like any
   * session that ended, it keeps the forms waiting to be sent, sealed, for the next sign-in.
   */
  async function signedOutEverywhere() {
    state.generation += 1;
    await forgetPersonalData({ keepWaiting: true });
    tabs?.postMessage({ type: "signed-out" });
    state.signedOut = true;
    history.replaceState(null, "", "/");
    await countWaiting();
    show("signedOut", { focus: true });
    announce(t("status.signedOutEverywhere"));
  }

  /** A passkey ceremony signed someone in (or a registration did): load their dashboard. */
  async function signedIn({ message = "status.signedIn" } = {}) {
    state.generation += 1;
    state.signedOut = false;
    state.loading = false;
    // The new session replaced the old one on the server, so no sign-out is left to finish;
    // and nothing from an earlier account may show, even for a moment. Forms that wait on
    // this device stay sealed: the server says whose session this is (vault.js), and only
    // that person's are opened and sent.
    setPendingSignOut(false);
    await forgetPersonalData({ keepWaiting: true });
    await forgetOwner().catch(warn);
    state.waiting = null;
    if (location.hash.startsWith("#/")) history.replaceState(null, "", "/");
    show("loading", { focus: true });
    announce(t(message));
    tabs?.postMessage({ type: "signed-in" });
    await learnVault().catch(warn);
    await app.refresh();
    await sendWaiting();
  }

  /** After a sign-in: what waited for this person goes out now, and they are told. */
  async function sendWaiting() {
    const { result, sent, attention } = await outbox.replayAndCount();
    if (result === "signedOut") return;
    const told = [];
    if (sent > 0) told.push(tp("status.waitingSent", sent));
    if (attention > 0) told.push(t("forms.backgroundAttention"));
    if (told.length > 0) announce(told.join(" "));
  }

  return {
    countWaiting,
    sessionEnded,
    signOut,
    completeSignOut,
    finishSignOut,
    signedOutEverywhere,
    signedIn,
  };
}
