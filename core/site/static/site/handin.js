// The hand-in page needs no sign-in: the upload code is the key (docs/api.md, "Hand-ins").
import { ApiError, api, formatTime, messageFor, showError, t } from "./common.js";

const form = document.getElementById("handin");
const codeInput = document.getElementById("upload-code");
const fileInput = document.getElementById("handin-file");
const errorBox = document.getElementById("handin-error");
const stateEl = document.getElementById("handin-state");

const fromLink = new URLSearchParams(location.search).get("code");
if (fromLink) codeInput.value = fromLink;

function code() {
  return codeInput.value.trim().toUpperCase();
}

function showState(body) {
  const parts = [t("uploads_left", { n: body.uploads_available })];
  const last = body.last_submission;
  parts.push(
    last
      ? t("last_file", { time: formatTime(last.created_at), size: last.size_bytes, code: last.verification_code, md5: last.md5 })
      : t("no_file_yet"),
  );
  stateEl.textContent = parts.join(" ");
}

function explain(error) {
  if (!(error instanceof ApiError)) return messageFor(error);
  if (error.status === 404) return t("unknown_code");
  if (error.status === 413) return t("too_large");
  if (error.status === 409) return t("handin_closed");
  if (error.status === 503) return t("storage_down");
  if (error.status === 422) return t("upload_refused", { detail: error.message });
  return messageFor(error);
}

function codeOrComplain() {
  if (code()) return code();
  showError(errorBox, t("enter_code"));
  codeInput.focus();
  return null;
}

document.getElementById("handin-check").addEventListener("click", async () => {
  showError(errorBox, "");
  const value = codeOrComplain();
  if (!value) return;
  try {
    showState(await api(`/submissions/${encodeURIComponent(value)}`, { auth: false }));
  } catch (error) {
    stateEl.textContent = "";
    showError(errorBox, explain(error));
  }
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(errorBox, "");
  const value = codeOrComplain();
  if (!value) return;
  const file = fileInput.files[0];
  if (!file) {
    showError(errorBox, t("choose_file"));
    fileInput.focus();
    return;
  }
  const data = new FormData();
  data.append("file", file);
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const body = await api(`/submissions/${encodeURIComponent(value)}`, { method: "POST", form: data, auth: false });
    showState(body);
    stateEl.textContent = `${t("uploaded")} ${stateEl.textContent}`;
    form.reset();
    codeInput.value = value;
  } catch (error) {
    showError(errorBox, explain(error));
  } finally {
    button.disabled = false;
  }
});
