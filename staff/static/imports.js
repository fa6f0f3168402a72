// Record imports: send the chosen file as the request body (the server streams it to disk;
// a multipart form would be parsed in memory), with upload progress, then open its page.
export function attach(form) {
  const input = form.querySelector("input[type=file]");
  const progress = document.getElementById("import-progress");
  const box = document.getElementById("import-error");
  const text = document.getElementById("import-error-text");
  const button = form.querySelector("button[type=submit]");

  function fail(message) {
    text.textContent = message;
    box.hidden = false;
    box.focus();
    progress.textContent = "";
    button.disabled = false;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = input.files && input.files[0];
    if (!file) {
      fail(form.dataset.missing);
      return;
    }
    box.hidden = true;
    button.disabled = true;
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("Content-Type", "application/x-ndjson");
    request.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
    request.setRequestHeader("X-File-Name", encodeURIComponent(file.name));
    request.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) {
        const percent = Math.floor((100 * e.loaded) / e.total);
        progress.textContent = form.dataset.busy.replace("{percent}", String(percent));
      }
    });
    request.addEventListener("load", () => {
      let answer = {};
      try {
        answer = JSON.parse(request.responseText);
      } catch {
        answer = {};
      }
      if (request.status === 201 && answer.url) {
        window.location.assign(answer.url);
      } else {
        fail(answer.message || form.dataset.failed);
      }
    });
    request.addEventListener("error", () => fail(form.dataset.failed));
    request.send(file);
  });
}
