// "Request access" (#/access) for people without DigiD and without an activation code: details,
// a photo of the passport or identity card, a short video reading four digits the server chose,
// then DUO's helpdesk decides. Once approved, this browser (and only this one: it holds the
// request's secret) goes on to create a passkey. README, "DUO staff", has the whole flow.

import { ApiError, NetworkError, restJson } from "./api.js";
import * as views from "./access-views.js";
import { describeError, focusProblem, formValues } from "./fields.js";
import { getLanguage, t } from "./i18n.js";
import * as passkeys from "./passkeys.js";
import { support as pushSupport } from "./push.js";
import * as recorder from "./recorder.js";
import { stepMessage } from "./signin-views.js";
import { uploadRequestFile } from "./uploads.js";
import { b64urlDecode } from "./verify-core.js";

// The request this browser made: its id and secret. Not personal data of an account (there is
// none yet), and needed across restarts until the passkey exists: kept in localStorage.
const STORAGE_KEY = "duo.accessRequest";
const POLL_MS = 30_000;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@.]{2,}$/;

function loadStored() {
  try {
    const stored = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "null");
    return stored?.id && stored?.secret ? stored : null;
  } catch {
    return null;
  }
}

function saveStored(value) {
  localStorage.setItem(STORAGE_KEY, JSON.stringify(value));
}

export function forgetRequest() {
  localStorage.removeItem(STORAGE_KEY);
}

/** Is there a request on this device (the sign-in page says so)? */
export function hasRequest() {
  return loadStored() !== null;
}

/** 256 bits from the browser's CSPRNG, base64url without padding; only its hash leaves here. */
function newSecret() {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The page { render, enter, leave } for app.js's router. host: see app.js. */
export function accessPage(host) {
  let stored = null; // { id, secret }
  let state = null; // the server's answer (access/routes.py _state)
  let status = "loading"; // loading | ready | offline
  let step = "intro"; // intro | details | document | video | review | status
  let ui = freshUi();
  let stream = null;
  let recording = null;
  let preview = null; // one <video> kept across renders: the live camera picture
  let poll = null;

  const onScreen = () => host.view() === "access";

  function freshUi() {
    return {
      busy: null,
      error: null,
      errorArea: null,
      fieldErrors: {},
      upload: null,
      camera: null,
      cameraError: null,
      seconds: 0,
      recorded: null,
      step: null,
    };
  }

  function call(method, path = "", body) {
    return restJson(method, `/access/requests/${stored.id}${path}`, body, {
      headers: { Authorization: `Bearer ${stored.secret}` },
    });
  }

  /** Where a draft continues: the first thing still missing. */
  function draftStep() {
    const has = (kind) => state.files.some((f) => f.kind === kind && f.complete);
    if (!has("document")) return "document";
    if (!has("video")) return "video";
    return "review";
  }

  function go(next, { announce = null } = {}) {
    step = next;
    ui = { ...freshUi(), camera: null };
    stopCamera();
    render();
    document.getElementById("view-title")?.focus();
    host.announce(announce ? t(announce) : "");
  }

  function render() {
    if (onScreen()) host.render();
    // The live picture pauses when its element moves to the new tree: play on.
    if (preview && stream) queueMicrotask(() => preview.play().catch(() => undefined));
  }

  function fail(error, area, focusId) {
    ui.busy = null;
    ui.step = null;
    ui.errorArea = area;
    ui.error = describe(error);
    render();
    focusProblem(focusId);
  }

  async function load() {
    stored = loadStored();
    if (!stored) {
      status = "ready";
      step = "intro";
      render();
      return;
    }
    try {
      state = await call("GET");
      status = "ready";
      step = state.status === "draft" ? draftStep() : "status";
    } catch (error) {
      if (error instanceof NetworkError) {
        status = "offline";
      } else if (error instanceof ApiError && error.status === 404) {
        // Removed (a draft never sent) or not ours after all: start afresh.
        forgetRequest();
        stored = null;
        state = null;
        status = "ready";
        step = "intro";
      } else {
        status = "ready";
        step = "intro";
        ui.error = describe(error);
      }
    }
    render();
    schedulePoll();
  }

  async function refresh({ say = false } = {}) {
    if (!stored) return;
    try {
      const before = state?.status;
      state = await call("GET");
      if (state.status !== before && step === "status") {
        host.announce(t("access.statusChanged"));
      } else if (say) {
        host.announce(t("access.statusSame"));
      }
      if (step === "status") render();
    } catch (error) {
      if (say) host.announce(t(describe(error).key, describe(error).params));
    }
  }

  function schedulePoll() {
    clearInterval(poll);
    poll = null;
    if (step === "status" && ["submitted", "in_review"].includes(state?.status)) {
      poll = setInterval(() => {
        if (document.visibilityState === "visible") refresh();
      }, POLL_MS);
    }
  }

  // --- details ----------------------------------------------------------------------

  async function onDetails(form) {
    if (ui.busy) return;
    const values = formValues(form);
    const problems = {};
    if (values.fullName.length < 2) problems.fullName = { key: "access.invalid.fullName" };
    if (!/^\d{4}-\d{2}-\d{2}$/.test(values.dateOfBirth ?? "")) problems.dateOfBirth = { key: "access.invalid.dateOfBirth" };
    if (!values.country) problems.country = { key: "access.invalid.country" };
    if (!EMAIL.test(values.contactEmail ?? "")) problems.contactEmail = { key: "access.invalid.contactEmail" };
    if (!values.reason) problems.reason = { key: "access.invalid.reason" };
    if (Object.keys(problems).length) {
      ui.fieldErrors = problems;
      ui.error = null;
      render();
      return focusProblem(null) ?? document.querySelector("#view [aria-invalid='true']")?.focus();
    }
    const body = {
      fullName: values.fullName,
      dateOfBirth: values.dateOfBirth,
      country: values.country,
      contactEmail: values.contactEmail,
      customerNumber: values.customerNumber || null,
      reason: values.reason,
      language: getLanguage(),
    };
    ui.busy = "details";
    ui.fieldErrors = {};
    ui.error = null;
    render();
    try {
      if (stored && state?.status === "draft") {
        state = await call("PUT", "", body);
      } else {
        const secret = newSecret();
        state = await restJson("POST", "/access/requests", body, {
          headers: { Authorization: `Bearer ${secret}` },
        });
        stored = { id: state.id, secret };
        saveStored(stored);
      }
    } catch (error) {
      if (error instanceof ApiError && error.field && error.field !== "secret") {
        ui.busy = null;
        ui.fieldErrors = { [error.field]: { key: `access.invalid.${error.field}` } };
        render();
        return document.querySelector("#view [aria-invalid='true']")?.focus();
      }
      return fail(error, "details", "access-details-error");
    }
    go(draftStep(), { announce: "access.detailsSaved" });
  }

  // --- files ------------------------------------------------------------------------

  async function upload(kind, file) {
    ui.busy = kind;
    ui.error = null;
    ui.errorArea = null;
    ui.upload = { kind, sent: 0, total: file.blob.size };
    render();
    let lastSaid = -1;
    const onProgress = (sent, total) => {
      ui.upload = { kind, sent, total };
      // Only the numbers change: no re-render (it would restart the picture and move focus).
      const bar = document.getElementById(`${kind}-progress`);
      const text = document.getElementById(`${kind}-progress-text`);
      if (bar) bar.value = sent;
      if (text) text.textContent = views.progressText(sent, total);
      const quarter = Math.floor((sent / total) * 4);
      if (quarter > lastSaid && quarter < 4) {
        lastSaid = quarter;
        if (quarter > 0) host.announce(views.progressText(sent, total));
      }
    };
    try {
      await uploadRequestFile(file, { requestId: stored.id, secret: stored.secret, kind, onProgress });
      state = await call("GET");
    } catch (error) {
      ui.upload = null;
      return fail(error, kind, `access-${kind}-error`) ?? false;
    }
    ui.busy = null;
    ui.upload = null;
    host.announce(t(kind === "video" ? "access.videoReceived" : "access.documentReceived"));
    render();
    return true;
  }

  async function onDocument(input) {
    const chosen = input.files?.[0];
    if (!chosen || ui.busy) return;
    const problem = !["image/jpeg", "image/png", "application/pdf"].includes(chosen.type)
      ? "access.error.documentType"
      : chosen.size > state.limits.documentMaxBytes
        ? "access.error.documentSize"
        : null;
    if (problem) {
      ui.errorArea = "document";
      ui.error = { key: problem, params: {} };
      render();
      return focusProblem("access-document-error");
    }
    await upload("document", { name: chosen.name, type: chosen.type, blob: chosen });
  }

  async function onRemove(file) {
    if (ui.busy) return;
    try {
      await call("DELETE", `/files/${file.id}`);
      state = await call("GET");
      render();
      host.announce(t("access.fileRemoved", { name: file.filename }));
    } catch (error) {
      fail(error, "document", "access-document-error");
    }
  }

  // --- the video --------------------------------------------------------------------

  function stopCamera() {
    recording?.stop();
    recording = null;
    recorder.closeCamera(stream);
    stream = null;
    if (preview) preview.srcObject = null;
    if (ui.recorded?.url) URL.revokeObjectURL(ui.recorded.url);
  }

  async function onCamera() {
    ui.cameraError = null;
    ui.error = null;
    try {
      stream = await recorder.openCamera();
    } catch (error) {
      ui.camera = null;
      ui.cameraError = error.code ?? "FAILED";
      render();
      return focusProblem("access-camera-error");
    }
    preview = preview ?? makePreview();
    preview.srcObject = stream;
    ui.camera = "live";
    render();
    document.getElementById("access-record")?.focus();
    host.announce(t("access.cameraOn"));
  }

  function makePreview() {
    const video = document.createElement("video");
    video.id = "access-preview";
    video.className = "camera";
    video.muted = true; // the person's own voice must not echo back
    video.autoplay = true;
    video.playsInline = true;
    video.setAttribute("aria-label", t("access.previewLabel"));
    return video;
  }

  function onRecord() {
    ui.camera = "recording";
    ui.seconds = 0;
    recording = recorder.record(stream, {
      onTick: (seconds) => {
        ui.seconds = seconds;
        const text = document.getElementById("access-recording");
        if (text) text.textContent = t("access.recording", { seconds, max: recorder.MAX_SECONDS });
        const stop = document.getElementById("access-stop");
        if (stop) stop.disabled = seconds < recorder.MIN_SECONDS;
      },
    });
    recording.done.then(onRecorded, (error) => fail(error, "video", "access-video-error"));
    render();
    document.getElementById("access-stop")?.focus();
    host.announce(t("access.recordingStarted"));
  }

  function onStop() {
    recording?.stop();
  }

  function onRecorded(result) {
    recording = null;
    recorder.closeCamera(stream);
    stream = null;
    ui.camera = "recorded";
    ui.recorded = { ...result, url: URL.createObjectURL(result.blob) };
    render();
    document.getElementById("access-use-video")?.focus();
    host.announce(t("access.recorded"));
  }

  async function onUseVideo() {
    const { blob, type } = ui.recorded;
    if (blob.size > state.limits.videoMaxBytes) {
      ui.errorArea = "video";
      ui.error = { key: "access.error.videoSize", params: {} };
      render();
      return focusProblem("access-video-error");
    }
    const sent = await upload("video", { name: recorder.fileName(type), type, blob });
    if (sent) {
      URL.revokeObjectURL(ui.recorded.url);
      ui.recorded = null;
      ui.camera = null;
      render();
    }
  }

  function onAgain() {
    if (ui.recorded?.url) URL.revokeObjectURL(ui.recorded.url);
    ui.recorded = null;
    ui.camera = null;
    onCamera();
  }

  // --- sending, answering, following ---------------------------------------------------

  async function onSend() {
    if (ui.busy) return;
    ui.busy = "send";
    ui.error = null;
    render();
    try {
      state = await call("POST", "/submit", {});
    } catch (error) {
      return fail(error, "send", "access-send-error");
    }
    go("status", { announce: "access.sent" });
    schedulePoll();
  }

  async function onAnswer(form) {
    if (ui.busy) return;
    const { message } = formValues(form);
    if (!message) {
      ui.fieldErrors = { message: { key: "access.invalid.message" } };
      render();
      return document.getElementById("access-answer")?.focus();
    }
    ui.busy = "answer";
    ui.fieldErrors = {};
    render();
    try {
      state = await call("POST", "/respond", { message });
    } catch (error) {
      return fail(error, "answer", "access-answer-error-form");
    }
    go("status", { announce: "access.answerSent" });
    schedulePoll();
  }

  async function onPush() {
    if (ui.busy) return;
    ui.busy = "push";
    render();
    try {
      // Only from this tap: the permission prompt needs a user gesture.
      if ((await Notification.requestPermission()) !== "granted") throw { key: "push.error.denied", params: {} };
      const registration = await navigator.serviceWorker.ready;
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: b64urlDecode(state.pushPublicKey),
      });
      const json = subscription.toJSON();
      state = await call("PUT", "/push", { endpoint: json.endpoint, keys: json.keys, expirationTime: json.expirationTime ?? null });
      ui.busy = null;
      render();
      host.announce(t("access.pushOn"));
    } catch (error) {
      fail(error, "push", "access-push-error");
    }
  }

  async function onPasskey() {
    if (ui.busy) return;
    ui.busy = "passkey";
    ui.error = null;
    render();
    let result;
    try {
      result = await passkeys.accessRequest({ requestId: stored.id, secret: stored.secret }, (s) => {
        ui.step = stepMessage(s);
        render();
        host.announce(t(ui.step));
      });
    } catch (error) {
      return fail(error, "passkey", "access-passkey-error");
    }
    // The approval is spent: nothing on this device needs the request any more.
    forgetRequest();
    stored = null;
    state = null;
    history.replaceState(null, "", "/");
    if (result.recoveryKey) {
      host.show("recoveryKey", {
        focus: true,
        recoveryKey: result.recoveryKey,
        passkeyName: result.passkey?.name,
        reason: "access",
      });
      host.announce("");
    } else {
      host.signedIn({ message: "status.passkeyCreated" });
    }
  }

  function onNew() {
    forgetRequest();
    stored = null;
    state = null;
    go("intro");
  }

  const videoHandlers = {
    onCamera,
    onRecord,
    onStop,
    onUse: onUseVideo,
    onAgain,
  };

  function page() {
    if (status === "loading") return views.loadingView();
    if (status === "offline") return views.offlineView({ onRetry: () => { status = "loading"; render(); load(); } });
    switch (step) {
      case "intro":
        return views.introView({ onStart: () => go("details") });
      case "details":
        return views.detailsView(ui, state?.details, { onSubmit: onDetails });
      case "document":
        return views.documentView(ui, state, {
          onFile: onDocument,
          onRemove,
          onNext: () => go(draftStep() === "document" ? "document" : "video"),
          onBack: () => go("details"),
        });
      case "video":
        return views.videoView(ui, state, preview, {
          ...videoHandlers,
          onNext: () => go("review"),
          onBack: () => go("document"),
        });
      case "review":
        return views.reviewView(ui, state, { onSend, onBack: () => go("video"), onEdit: () => go("details") });
      default:
        return views.statusView({ state, ui, pushSupport: pushSupport() }, preview, {
          ...videoHandlers,
          onFile: onDocument,
          onAnswer,
          onPush,
          onPasskey,
          onNew,
          onRefresh: () => refresh({ say: true }),
        });
    }
  }

  function onVisible() {
    if (document.visibilityState === "visible" && step === "status") refresh();
  }

  return {
    render: page,
    enter() {
      status = "loading";
      ui = freshUi();
      preview = makePreview();
      document.addEventListener("visibilitychange", onVisible);
      load();
    },
    leave() {
      clearInterval(poll);
      poll = null;
      stopCamera();
      preview = null;
      document.removeEventListener("visibilitychange", onVisible);
    },
  };
}

/** Access-request refusals, as messages (the rest as fields.js says). */
const ACCESS_MESSAGES = {
  ATTACHMENT_TYPE: "access.error.fileType",
  ATTACHMENT_TOO_LARGE: "access.error.fileSize",
  ATTACHMENT_CHECKSUM: "access.error.damaged",
  TOO_MANY_UPLOADS: "access.error.tooManyFiles",
  DOCUMENT_MISSING: "access.error.documentMissing",
  VIDEO_MISSING: "access.error.videoMissing",
  REQUEST_NOT_EDITABLE: "access.error.notEditable",
  ACCESS_REQUEST_INVALID: "access.error.register",
  NOT_FOUND: "access.error.unknown",
};

function describe(error) {
  if (error?.key) return error; // { key, params } thrown by this page
  if (error instanceof ApiError && ACCESS_MESSAGES[error.code]) {
    return { key: ACCESS_MESSAGES[error.code], params: {} };
  }
  if (error instanceof recorder.CameraError) return { key: `access.camera.${error.code}`, params: {} };
  return describeError(error);
}
