// The signed-out pages and what they do: sign in with a passkey (button or browser autofill),
// activate an account, recover with the recovery key, add a device from a link, and show the
// new recovery key once. app.js routes to them and hands in `host` (show, render, …).

import { hasRequest } from "./access.js";
import { codeCharacters, describeError, focusProblem, formValues } from "./fields.js";
import { t } from "./i18n.js";
import * as passkeys from "./passkeys.js";
import * as views from "./signin-views.js";
import { watchLink } from "./device-link.js";

/**
 * The pages, each { render(options), enter?(options), leave?() }, for app.js's router.
 * host: { view(), show(view, options), render(), announce(text), signedIn(options), waiting() }.
 */
export function signInPages(host) {
  // One page is on screen at a time: they share this, reset on leaving one (app.js draws a
  // page before it calls enter()).
  const ui = { busy: false, step: null, error: null, fieldErrors: {} };
  // The device link's check (device-link.js): status, expiry, whose account, who is here.
  const link = { status: "checking", expiresAt: null, accountName: "", signedInAs: null };
  let stopLink = () => undefined;
  // The pending conditional request (passkeys in the browser's autofill), if any.
  let autofill = null;
  let autofillAvailable = false;
  const autofillChecked = passkeys.autofillAvailable().then((available) => {
    autofillAvailable = available;
  });

  function reset() {
    ui.busy = false;
    ui.step = null;
    ui.error = null;
    ui.fieldErrors = {};
  }

  function fail(error, errorId) {
    ui.busy = false;
    ui.step = null;
    ui.error = describeError(error);
    host.render();
    host.announce("");
    focusProblem(errorId);
  }

  function onStep(options) {
    return (step) => {
      ui.step = step;
      host.render();
      host.announce(t(views.stepMessage(step, options)));
    };
  }

  // --- sign in ---------------------------------------------------------------------

  /**
   * Keep a conditional request pending while the sign-in page shows, so that the browser
   * offers passkeys when the person selects the username field (WebAuthn §5.1.4.2).
   * Started once per visit: after it fails it is not retried (a failing authenticator would
   * otherwise loop); a failed button attempt starts it again.
   */
  async function startAutofill() {
    await autofillChecked;
    if (!autofillAvailable || autofill || host.view() !== "signedOut" || ui.busy) return;
    const controller = new AbortController();
    autofill = controller;
    let picked = false;
    try {
      await passkeys.signIn({
        autofill: true,
        signal: controller.signal,
        onStep: (step) => {
          if (step !== "checking" || controller.signal.aborted) return;
          picked = true;
          ui.busy = true;
          ui.step = step;
          host.render();
        },
      });
      if (!controller.signal.aborted) host.signedIn();
    } catch (error) {
      if (controller.signal.aborted) return;
      // Until a passkey was picked and sent, a failure is nothing the person did: offline,
      // rate limited, or an authenticator with no passkey for us refusing at once. The
      // button still works and reports such problems itself.
      if (!picked) {
        console.warn("passkey autofill stopped:", error);
        return;
      }
      if (host.view() === "signedOut") fail(error, "signin-error");
    } finally {
      if (autofill === controller) autofill = null;
    }
  }

  function stopAutofill() {
    autofill?.abort();
    autofill = null;
  }

  async function onSignIn() {
    if (ui.busy) return;
    // Only one WebAuthn request at a time: the pending autofill one must go first.
    stopAutofill();
    ui.busy = true;
    ui.error = null;
    host.render();
    try {
      await passkeys.signIn({ onStep: onStep({ signIn: true }) });
    } catch (error) {
      if (host.view() !== "signedOut") return;
      fail(error, "signin-error");
      startAutofill();
      return;
    }
    host.signedIn();
  }

  // --- registrations: activation, recovery, device link --------------------------------

  async function register(ceremony, { errorId, reason }) {
    const view = host.view();
    ui.busy = true;
    ui.error = null;
    ui.fieldErrors = {};
    host.render();
    let result;
    try {
      result = await ceremony(onStep({}));
    } catch (error) {
      if (host.view() === view) fail(error, errorId);
      return;
    }
    // Signed in now: a reload must not bring back the form (or the link's spent token).
    history.replaceState(null, "", "/");
    if (result.recoveryKey) {
      host.show("recoveryKey", {
        focus: true,
        recoveryKey: result.recoveryKey,
        passkeyName: result.passkey?.name,
        reason,
      });
      host.announce(""); // the page says the passkey is ready; focus is on its heading
    } else {
      host.signedIn({ message: "status.passkeyCreated" });
    }
  }

  function invalid(fieldErrors) {
    ui.error = null;
    ui.fieldErrors = fieldErrors;
    host.render();
    focusProblem(null);
  }

  function onActivate(form) {
    if (ui.busy) return;
    const { code, dateOfBirth } = formValues(form);
    const problems = {};
    if (codeCharacters(code).length !== 16) problems.code = { key: "activate.codeInvalid" };
    if (!/^\d{4}-\d{2}-\d{2}$/.test(dateOfBirth)) {
      problems.dateOfBirth = { key: "activate.dobMissing" };
    }
    if (Object.keys(problems).length) return invalid(problems);
    register((step) => passkeys.activate({ code, dateOfBirth }, step), {
      errorId: "activation-error",
      reason: "activation",
    });
  }

  function onRecover(form) {
    if (ui.busy) return;
    const { recoveryKey } = formValues(form);
    if (codeCharacters(recoveryKey).length !== 25) {
      return invalid({ recoveryKey: { key: "recover.keyInvalid" } });
    }
    register((step) => passkeys.recover({ recoveryKey }, step), {
      errorId: "recovery-error",
      reason: "recovery",
    });
  }

  function onLink(token) {
    if (ui.busy) return;
    if (!token) {
      ui.error = { key: "auth.error.link", params: {} };
      host.render();
      focusProblem("device-link-error");
      return;
    }
    register((step) => passkeys.linkDevice({ token }, step), {
      errorId: "device-link-error",
      reason: "link",
    });
  }

  // --- the recovery key, shown once ------------------------------------------------

  async function onCopy(recoveryKey) {
    try {
      await navigator.clipboard.writeText(recoveryKey);
      host.announce(t("recoveryKey.copied"));
    } catch {
      // No clipboard access (permissions, older browser): select it for a manual copy.
      const key = document.getElementById("recovery-key");
      if (key) getSelection()?.selectAllChildren(key);
      host.announce(t("recoveryKey.copyFailed"));
    }
  }

  function onContinue(form, options) {
    if (!form.elements.saved.checked) {
      ui.fieldErrors = { saved: { key: "recoveryKey.confirmMissing" } };
      host.render();
      document.getElementById("key-saved")?.focus();
      return;
    }
    if (options.reason === "renewed") {
      host.show("security", { focus: true });
      host.announce(t("status.recoveryKeyRenewed"));
    } else {
      host.signedIn();
    }
  }

  return {
    signedOut: {
      render: () =>
        views.signInView(ui, {
          autofill: autofillAvailable,
          onSignIn,
          pending: hasRequest(),
          waiting: host.waiting(),
        }),
      enter: (options) => {
        if (options.autofill !== false) startAutofill();
        // The field only shows once the browser said autofill works (usually at once).
        autofillChecked.then(() => {
          const missing = !document.getElementById("signin-username");
          if (autofillAvailable && missing && host.view() === "signedOut") host.render();
        });
      },
      leave: () => {
        stopAutofill();
        reset();
      },
      /** Start autofill later (after a sign-out has reached the server). */
      resume: startAutofill,
    },
    activate: {
      render: () => views.activateView(ui, { onSubmit: onActivate }),
      leave: reset,
    },
    recover: {
      render: () => views.recoverView(ui, { onSubmit: onRecover }),
      leave: reset,
    },
    deviceLink: {
      render: (options) => views.deviceLinkView(ui, link, { onCreate: () => onLink(options.token) }),
      enter: (options) => {
        stopLink = watchLink(options.token, link, () => {
          if (host.view() === "deviceLink") host.render();
        });
      },
      leave: () => {
        stopLink();
        reset();
      },
      /** A device that is signed in keeps its signed-in header here (#16 item 16). */
      signedIn: () => Boolean(link.signedInAs),
    },
    recoveryKey: {
      render: (options) =>
        views.recoveryKeyView(ui, options, {
          onCopy: () => onCopy(options.recoveryKey),
          onPrint: () => window.print(),
          onContinue: (form) => onContinue(form, options),
        }),
      leave: reset,
    },
  };
}
