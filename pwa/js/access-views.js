// The "Request access" screens as DOM: what you need, your details, the identity document, the
// video with the four digits, sending it, and then the request's status. No state and no
// fetching here: js/access.js owns both.

import { countryOptions } from "./countries.js";
import { h } from "./dom.js";
import { field, formError, submitButton } from "./fields.js";
import * as fmt from "./format.js";
import { getLanguage, t } from "./i18n.js";
import { MAX_SECONDS, MIN_SECONDS } from "./recorder.js";
import { section, title } from "./views.js";

const STEPS = ["access.steps.details", "access.steps.document", "access.steps.video", "access.steps.send"];
const STEP_NUMBER = { details: 1, document: 2, video: 3, review: 4 };
const REASONS = ["lost_digid", "never_had_digid"];
// The request's status as the person reads it: what happened, and what happens next.
const STATUS_KEYS = {
  submitted: "access.status.submitted",
  in_review: "access.status.in_review",
  more_info: "access.status.more_info",
  approved: "access.status.approved",
  refused: "access.status.refused",
  completed: "access.status.completed",
};

function steps(current) {
  return h(
    "ol",
    { class: "steps", "aria-label": t("steps.label") },
    STEPS.map((key, index) =>
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

function megabytes(bytes) {
  return (bytes / (1024 * 1024)).toLocaleString(getLanguage(), { maximumFractionDigits: 1 });
}

function backLink(onBack) {
  return h(
    "p",
    { class: "back" },
    h("button", { type: "button", class: "button button-secondary", on: { click: onBack } }, t("access.back")),
  );
}

/** Other ways in: a video call or a DUO desk, where staff check the passport and give a code. */
function otherWays({ camera = false } = {}) {
  return section(
    "access-other-ways",
    t(camera ? "access.camera.otherWaysTitle" : "access.otherWaysTitle"),
    h("p", {}, t("access.otherWays")),
    h("p", {}, h("a", { href: "#/activate" }, t("access.haveCode"))),
  );
}

// --- the request form ------------------------------------------------------------------

export function introView({ onStart }) {
  return [
    title(t("access.title")),
    h("p", { class: "lead" }, t("access.intro")),
    section(
      "access-need",
      t("access.needTitle"),
      h(
        "ul",
        {},
        h("li", {}, t("access.needDocument")),
        h("li", {}, t("access.needCamera")),
        h("li", {}, t("access.needEmail")),
        h("li", {}, t("access.needTime")),
      ),
      h("p", { class: "note" }, t("access.sameDevice")),
      h("button", { type: "button", id: "access-start", class: "button", on: { click: onStart } }, t("access.start")),
    ),
    otherWays(),
    h("p", { class: "back" }, h("a", { href: "#/" }, t("auth.back"))),
  ];
}

export function detailsView(ui, details, { onSubmit }) {
  const lang = getLanguage();
  const today = new Date().toISOString().slice(0, 10);
  const errors = ui.fieldErrors;
  const country = h(
    "select",
    { name: "country", class: "input", autocomplete: "country" },
    h("option", { value: "" }, t("access.countryChoose")),
    countryOptions(lang).map(({ code, name }) =>
      h("option", { value: code, selected: details?.country === code }, name),
    ),
  );
  const reasonError = errors.reason;
  return [
    title(t("access.title")),
    steps(1),
    h("p", { class: "lead" }, t("access.detailsText")),
    h(
      "section",
      { id: "access-details", class: "card", "aria-labelledby": "access-details-title" },
      h("h2", { id: "access-details-title" }, t("access.detailsTitle")),
      formError("access-details-error", ui.error),
      h(
        "form",
        {
          id: "access-details-form",
          class: "form",
          novalidate: true,
          on: {
            submit: (event) => {
              event.preventDefault();
              onSubmit(event.currentTarget);
            },
          },
        },
        field(
          { id: "access-name", label: t("access.fullName"), hint: t("access.fullNameHint"), error: errors.fullName },
          h("input", { type: "text", name: "fullName", class: "input", autocomplete: "name", value: details?.fullName ?? "", maxlength: "200" }),
        ),
        field(
          { id: "access-dob", label: t("access.dob"), error: errors.dateOfBirth },
          h("input", { type: "date", name: "dateOfBirth", class: "input input-date", autocomplete: "bday", min: "1900-01-01", max: today, value: details?.dateOfBirth ?? "" }),
        ),
        field({ id: "access-country", label: t("access.country"), error: errors.country }, country),
        field(
          { id: "access-customer", label: t("access.customerNumber"), hint: t("access.customerNumberHint"), error: errors.customerNumber, optional: true },
          h("input", { type: "text", name: "customerNumber", class: "input", autocomplete: "off", autocapitalize: "characters", spellcheck: "false", value: details?.customerNumber ?? "", maxlength: "20" }),
        ),
        field(
          { id: "access-email", label: t("access.email"), hint: t("access.emailHint"), error: errors.contactEmail },
          h("input", { type: "email", name: "contactEmail", class: "input", autocomplete: "email", value: details?.contactEmail ?? "", maxlength: "254" }),
        ),
        h(
          "fieldset",
          {
            id: "access-reason",
            class: reasonError ? "field field-invalid" : "field",
            tabindex: "-1",
            "aria-invalid": reasonError ? "true" : null,
            "aria-describedby": reasonError ? "access-reason-error" : null,
          },
          h("legend", {}, t("access.reason")),
          reasonError ? h("p", { id: "access-reason-error", class: "field-error" }, t(reasonError.key)) : null,
          REASONS.map((value) =>
            h(
              "div",
              { class: "checkbox" },
              h("input", { type: "radio", id: `access-reason-${value}`, name: "reason", value, checked: details?.reason === value }),
              h("label", { for: `access-reason-${value}` }, t(`access.reason.${value}`)),
            ),
          ),
        ),
        submitButton(t("access.continue"), { busy: ui.busy === "details", id: "access-details-submit" }),
      ),
    ),
    h("p", { class: "back" }, h("a", { href: "#/" }, t("auth.back"))),
  ];
}

function progressBlock(ui, kind) {
  if (ui.upload?.kind !== kind) return null;
  const { sent, total } = ui.upload;
  return h(
    "div",
    { class: "upload-progress" },
    h("label", { for: `${kind}-progress` }, t("access.uploading")),
    h("progress", { id: `${kind}-progress`, max: String(total), value: String(sent) }),
    h("p", { id: `${kind}-progress-text`, class: "hint" }, progressText(sent, total)),
  );
}

export function progressText(sent, total) {
  const percent = total ? Math.floor((sent / total) * 100) : 0;
  return t("access.progress", { sent: megabytes(sent), total: megabytes(total), percent });
}

function fileList(files, { onRemove, busy }) {
  if (!files.length) return null;
  return h(
    "ul",
    { class: "file-list" },
    files.map((file) =>
      h(
        "li",
        {},
        `${file.filename} (${megabytes(file.size)} MB) `,
        file.complete ? h("span", { class: "tag" }, t("access.fileReceived")) : null,
        onRemove
          ? h(
              "button",
              {
                type: "button",
                class: "button button-secondary button-small",
                disabled: Boolean(busy),
                "aria-label": t("access.removeFile", { name: file.filename }),
                on: { click: () => onRemove(file) },
              },
              t("forms.remove"),
            )
          : null,
      ),
    ),
  );
}

/** The identity document: a photo or scan of the data page, uploaded at once. */
export function documentCard(ui, state, { onFile, onRemove, heading = "access.documentTitle" }) {
  const documents = state.files.filter((f) => f.kind === "document" && f.complete);
  return h(
    "section",
    { id: "access-document", class: "card", "aria-labelledby": "access-document-title" },
    h("h2", { id: "access-document-title" }, t(heading)),
    h("p", {}, t("access.documentText", { max: megabytes(state.limits.documentMaxBytes) })),
    formError("access-document-error", ui.errorArea === "document" ? ui.error : null),
    field(
      { id: "access-document-file", label: t("access.documentChoose"), hint: t("access.documentHint") },
      h("input", {
        type: "file",
        class: "input",
        accept: "image/jpeg,image/png,application/pdf",
        disabled: Boolean(ui.busy),
        on: { change: (event) => onFile(event.currentTarget) },
      }),
    ),
    progressBlock(ui, "document"),
    fileList(documents, { onRemove, busy: ui.busy }),
  );
}

export function documentView(ui, state, handlers) {
  const ready = state.files.some((f) => f.kind === "document" && f.complete);
  return [
    title(t("access.title")),
    steps(2),
    documentCard(ui, state, handlers),
    h(
      "div",
      { class: "actions" },
      h(
        "button",
        { type: "button", id: "access-document-next", class: "button", disabled: !ready || Boolean(ui.busy), on: { click: handlers.onNext } },
        t("access.continue"),
      ),
    ),
    backLink(handlers.onBack),
  ];
}

/** The four digits, large, and read out digit by digit by screen readers. */
function digitsBlock(digits) {
  return h(
    "div",
    { class: "digits-card" },
    h("p", { id: "access-digits-label" }, t("access.digitsSay")),
    h(
      "p",
      { id: "access-digits", class: "digits mono", "aria-labelledby": "access-digits-label access-digits", translate: "no" },
      digits.split("").map((d) => h("span", {}, d)),
    ),
  );
}

/** The liveness video: camera on, record a few seconds reading the digits, check, send. */
export function videoCard(ui, state, preview, handlers) {
  const camera = ui.camera;
  const videos = state.files.filter((f) => f.kind === "video" && f.complete);
  const cameraProblem = ui.cameraError
    ? h(
        "div",
        { id: "access-camera-error", class: "alert", role: "alert", tabindex: "-1" },
        h("p", {}, t(`access.camera.${ui.cameraError}`)),
        h("p", {}, t("access.camera.otherWays")),
        h("p", {}, h("a", { href: "#/activate" }, t("access.haveCode"))),
      )
    : null;
  let controls;
  if (camera === "live" || camera === "recording") {
    controls = [
      h("div", { class: "camera" }, preview),
      camera === "recording"
        ? [
            h("p", { id: "access-recording", class: "progress", role: "status" }, t("access.recording", { seconds: ui.seconds, max: MAX_SECONDS })),
            h(
              "button",
              { type: "button", id: "access-stop", class: "button", disabled: ui.seconds < MIN_SECONDS, on: { click: handlers.onStop } },
              t("access.stop"),
            ),
          ]
        : h("button", { type: "button", id: "access-record", class: "button", on: { click: handlers.onRecord } }, t("access.record")),
    ];
  } else if (camera === "recorded" && ui.recorded) {
    controls = [
      h("video", { id: "access-recorded", class: "camera", controls: true, playsinline: true, src: ui.recorded.url, "aria-label": t("access.recordedLabel") }),
      h("p", { class: "hint" }, t("access.recordedText", { seconds: ui.recorded.seconds, size: megabytes(ui.recorded.blob.size) })),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", id: "access-use-video", class: "button", disabled: Boolean(ui.busy), on: { click: handlers.onUse } }, t("access.useVideo")),
        h("button", { type: "button", id: "access-record-again", class: "button button-secondary", disabled: Boolean(ui.busy), on: { click: handlers.onAgain } }, t("access.recordAgain")),
      ),
    ];
  } else {
    controls = h(
      "button",
      { type: "button", id: "access-camera", class: "button", disabled: Boolean(ui.busy), on: { click: handlers.onCamera } },
      t(videos.length ? "access.cameraAgain" : "access.cameraStart"),
    );
  }
  return h(
    "section",
    { id: "access-video", class: "card", "aria-labelledby": "access-video-title" },
    h("h2", { id: "access-video-title" }, t(handlers.heading ?? "access.videoTitle")),
    h("p", {}, t("access.videoText", { max: MAX_SECONDS })),
    digitsBlock(state.digits),
    h("ul", {}, h("li", {}, t("access.videoTip1")), h("li", {}, t("access.videoTip2")), h("li", {}, t("access.videoTip3"))),
    cameraProblem,
    formError("access-video-error", ui.errorArea === "video" ? ui.error : null),
    controls,
    progressBlock(ui, "video"),
    videos.length ? h("p", { class: "success", id: "access-video-done" }, t("access.videoReceived")) : null,
  );
}

export function videoView(ui, state, preview, handlers) {
  const ready = state.files.some((f) => f.kind === "video" && f.complete);
  return [
    title(t("access.title")),
    steps(3),
    videoCard(ui, state, preview, handlers),
    ui.cameraError ? otherWays({ camera: true }) : null,
    h(
      "div",
      { class: "actions" },
      h(
        "button",
        { type: "button", id: "access-video-next", class: "button", disabled: !ready || Boolean(ui.busy), on: { click: handlers.onNext } },
        t("access.continue"),
      ),
    ),
    backLink(handlers.onBack),
  ];
}

function detailsFacts(details) {
  const lang = getLanguage();
  return h(
    "dl",
    { class: "facts" },
    [
      [t("access.fullName"), details.fullName],
      [t("access.dob"), fmt.calendarDate(details.dateOfBirth, lang)],
      [t("access.country"), fmt.country(details.country, lang)],
      [t("access.customerNumber"), details.customerNumber ?? "—"],
      [t("access.email"), details.contactEmail],
      [t("access.reason"), t(`access.reason.${details.reason}`)],
    ].map(([term, value]) => h("div", {}, h("dt", {}, term), h("dd", {}, value))),
  );
}

export function reviewView(ui, state, { onSend, onBack, onEdit }) {
  const files = state.files.filter((f) => f.complete);
  return [
    title(t("access.title")),
    steps(4),
    h("p", { class: "lead" }, t("access.reviewText")),
    section(
      "access-review",
      t("access.reviewTitle"),
      detailsFacts(state.details),
      h("p", {}, h("button", { type: "button", class: "button button-secondary", on: { click: onEdit } }, t("access.edit"))),
      h("h3", {}, t("access.files")),
      fileList(files, {}),
      formError("access-send-error", ui.error),
      h("button", { type: "button", id: "access-send", class: "button", disabled: Boolean(ui.busy), on: { click: onSend } }, ui.busy === "send" ? t("form.wait") : t("access.send")),
      h("p", { class: "note" }, t("access.sendNote")),
    ),
    backLink(onBack),
  ];
}

// --- after sending: the status ----------------------------------------------------------

function pushCard(model, { onPush }) {
  const { state, ui, pushSupport } = model;
  if (state.push) return h("p", { class: "success", id: "access-push-on" }, t("access.pushOn"));
  if (pushSupport !== "ok") return h("p", { class: "note" }, t("access.pushUnavailable"));
  return h(
    "div",
    { id: "access-push" },
    h("p", {}, t("access.pushText")),
    formError("access-push-error", ui.errorArea === "push" ? ui.error : null),
    h("button", { type: "button", id: "access-push-enable", class: "button button-secondary", disabled: Boolean(ui.busy), on: { click: onPush } }, t("access.pushEnable")),
  );
}

function answerForm(model, handlers) {
  const { ui } = model;
  return h(
    "form",
    {
      id: "access-answer-form",
      class: "form",
      novalidate: true,
      on: {
        submit: (event) => {
          event.preventDefault();
          handlers.onAnswer(event.currentTarget);
        },
      },
    },
    h(
      "div",
      { class: ui.fieldErrors.message ? "field field-invalid" : "field" },
      h("label", { for: "access-answer" }, t("access.answer")),
      h("p", { id: "access-answer-hint", class: "hint" }, t("access.answerHint")),
      ui.fieldErrors.message ? h("p", { id: "access-answer-error", class: "field-error" }, t(ui.fieldErrors.message.key)) : null,
      h("textarea", {
        id: "access-answer",
        name: "message",
        class: "input textarea",
        rows: "4",
        maxlength: "2000",
        "aria-describedby": ui.fieldErrors.message ? "access-answer-hint access-answer-error" : "access-answer-hint",
        "aria-invalid": ui.fieldErrors.message ? "true" : null,
      }),
    ),
    formError("access-answer-error-form", ui.errorArea === "answer" ? ui.error : null),
    submitButton(t("access.sendAnswer"), { busy: ui.busy === "answer", id: "access-answer-submit" }),
  );
}

export function statusView(model, preview, handlers) {
  const { state, ui } = model;
  const lang = getLanguage();
  const status = state.status;
  const content = [
    h("p", { id: "access-status", class: status === "approved" || status === "completed" ? "success" : "lead" }, t(STATUS_KEYS[status] ?? "access.status.submitted")),
  ];
  if (state.message && (status === "more_info" || status === "refused")) {
    content.push(
      h(
        "div",
        { class: "warning", id: "access-duo-message" },
        h("p", {}, h("strong", {}, t(status === "refused" ? "access.refusedReason" : "access.question"))),
        h("p", { class: "message-body" }, state.message),
      ),
    );
  }
  content.push(
    h(
      "dl",
      { class: "facts" },
      h("div", {}, h("dt", {}, t("access.submittedAt")), h("dd", {}, state.submittedAt ? fmt.dateTime(state.submittedAt, lang) : "—")),
      state.decidedAt ? h("div", {}, h("dt", {}, t("access.decidedAt")), h("dd", {}, fmt.dateTime(state.decidedAt, lang))) : null,
    ),
  );
  const parts = [title(t("access.statusTitle")), section("access-request", t("access.statusHeading"), ...content)];
  if (status === "approved" && state.canRegister) {
    parts.push(
      section(
        "access-passkey",
        t("access.passkeyTitle"),
        h("p", {}, t("access.passkeyText")),
        formError("access-passkey-error", ui.errorArea === "passkey" ? ui.error : null),
        h("button", { type: "button", id: "access-create-passkey", class: "button", disabled: Boolean(ui.busy), on: { click: handlers.onPasskey } }, ui.busy === "passkey" ? t("form.wait") : t("access.passkeyButton")),
        ui.busy === "passkey" && ui.step ? h("p", { class: "progress loading" }, t(ui.step)) : null,
      ),
    );
  }
  if (status === "approved" && !state.canRegister) {
    parts.push(h("p", { class: "note" }, t("access.approvalExpired")));
  }
  if (status === "more_info") {
    parts.push(
      section("access-respond", t("access.respondTitle"), answerForm(model, handlers)),
      documentCard(ui, state, { onFile: handlers.onFile, onRemove: null, heading: "access.newDocumentTitle" }),
      videoCard(ui, state, preview, { ...handlers, heading: "access.newVideoTitle" }),
    );
  }
  if (status === "submitted" || status === "in_review" || status === "more_info") {
    parts.push(
      section(
        "access-follow",
        t("access.followTitle"),
        h("p", {}, t("access.followText")),
        pushCard(model, handlers),
        h(
          "div",
          { class: "actions" },
          h("button", { type: "button", id: "access-refresh", class: "button button-secondary", disabled: Boolean(ui.busy), on: { click: handlers.onRefresh } }, t("access.refresh")),
        ),
      ),
    );
  }
  if (status === "refused") {
    parts.push(
      otherWays(),
      h("p", {}, h("button", { type: "button", id: "access-new", class: "button button-secondary", on: { click: handlers.onNew } }, t("access.newRequest"))),
    );
  }
  if (status === "completed") {
    parts.push(h("p", {}, h("a", { href: "#/", class: "button" }, t("access.toSignIn"))));
  }
  return parts;
}

export function loadingView() {
  return [title(t("access.title")), h("p", { class: "loading" }, t("loading.text"))];
}

export function offlineView({ onRetry }) {
  return [
    title(t("access.title")),
    h("p", { class: "lead" }, t("access.offline")),
    h("button", { type: "button", class: "button", on: { click: onRetry } }, t("offline.retry")),
  ];
}
