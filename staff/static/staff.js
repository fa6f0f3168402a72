// The staff UI's only script (no inline script: the CSP allows 'self' only). Server-rendered
// pages work without it, except the passkey ceremonies, which need WebAuthn in the browser.

// Error summaries take focus on load, so that screen readers announce them (GOV.UK pattern).
const summary = document.querySelector("[data-focus]");
if (summary) summary.focus();

const box = document.getElementById("passkey");
if (box) import("./passkey.js").then(({ attach }) => attach(box));

// Copy buttons (enrolment links): select the field's text for the member to copy.
for (const field of document.querySelectorAll("input[readonly].code")) {
  field.addEventListener("focus", () => field.select());
}

// Record imports: the upload form sends the file itself (imports.js).
const importForm = document.getElementById("import-form");
if (importForm) import("./imports.js").then(({ attach }) => attach(importForm));
