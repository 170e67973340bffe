// The exam page: questions, a timer on the server's clock, a navigator, autosave through the outbox, and
// "Finish exam" with a summary. It takes every fact from the API and says "All answers saved" only when the
// server has acknowledged every change.
import { ApiError, NetworkError, api, el, formatList, formatTime, messageFor, requireStudent, serverNow, showError, t } from "./common.js";
import { Outbox } from "./outbox.js";

const root = document.getElementById("exam");
const examId = Number(root.dataset.examId);
const titleEl = document.getElementById("exam-title");
const errorBox = document.getElementById("page-error");
const messageEl = document.getElementById("exam-message");
const body = document.getElementById("exam-body");
const timerEl = document.getElementById("timer");
const statusEl = document.getElementById("save-status");
const timeAlert = document.getElementById("time-alert");
const form = document.getElementById("questions");
const navList = document.getElementById("navigator-list");
const finishButton = document.getElementById("finish");
const dialog = document.getElementById("finish-dialog");
const links = document.getElementById("exam-links");

const DEADLINE_CHECK_MS = 60_000; // how often the page asks for the deadline again (accommodations move it)

let questions = [];
let answers = new Map(); // question id -> [choice ids], as displayed (saved, or waiting in the outbox)
let flags = new Set();
let flagsKey = "";
let deadline = 0; // ms, server clock
let locked = false;
let warned = { 5: false, 1: false };
let outbox = null;

function say(message, { links: showLinks = true } = {}) {
  messageEl.textContent = message;
  messageEl.hidden = !message;
  links.hidden = !showLinks;
}

// --- saving --------------------------------------------------------------------------------------
async function sendAnswers(batch) {
  try {
    await api(`/api/exams/${examId}/answers`, { method: "PUT", body: { answers: batch } });
  } catch (error) {
    if (error instanceof ApiError) {
      if (error.status === 409 && error.code === "attempt_closed") error.kind = "closed";
      else if (error.status === 409 && error.code === "attempt_not_started") {
        await api(`/api/exams/${examId}/attempt`, { method: "POST" }).catch(() => {});
        error.kind = "retry";
      } else if (error.status === 401) error.kind = "signin";
      else if ([400, 403, 404, 409, 413, 415, 422].includes(error.status)) error.kind = "rejected";
      else error.kind = "retry"; // 429, 5xx, a proxy's 502 or 504
    } else error.kind = "retry";
    throw error;
  }
}

function showSaveState() {
  const waiting = outbox.size;
  let text;
  if (outbox.stopped === "closed") text = t("status_closed", { n: waiting });
  else if (outbox.stopped === "signin") text = t("status_signin", { n: waiting });
  else if (!waiting && !outbox.inflight) text = t("status_saved");
  else if (outbox.failures > 0) text = t("status_waiting", { n: waiting });
  else text = t("status_saving", { n: waiting });
  if (statusEl.textContent !== text) statusEl.textContent = text;
  statusEl.dataset.waiting = String(waiting);
  if (outbox.stopped === "closed") {
    lock();
    showError(errorBox, t("status_closed", { n: waiting }));
  } else if (outbox.stopped === "signin") {
    showError(errorBox, t("session_ended"));
    if (!errorBox.querySelector("a")) {
      errorBox.append(el("p", {}, el("a", { href: `/app/?next=${encodeURIComponent(location.pathname)}`, text: t("session_ended") })));
    }
  } else if (outbox.lastError?.kind === "rejected") {
    showError(errorBox, t("status_rejected", { detail: outbox.lastError.message }));
  }
}

// --- the page ------------------------------------------------------------------------------------
function render() {
  form.textContent = "";
  navList.textContent = "";
  questions.forEach((question, index) => {
    const number = index + 1;
    const shown = answers.get(question.id) || [];
    const type = question.multiple ? "checkbox" : "radio";
    const choices = question.choices.map((choice) => {
      const input = el("input", {
        type,
        id: `c-${choice.id}`,
        name: `q-${question.id}`,
        value: String(choice.id),
        checked: shown.includes(choice.id),
      });
      return el("div", { class: "choice" }, input, el("label", { for: `c-${choice.id}`, text: choice.text, dir: "auto" }));
    });
    const flag = el("button", {
      type: "button",
      class: "flag-button",
      "aria-pressed": flags.has(question.id) ? "true" : "false",
      "data-flag": String(question.id),
      text: t("flag"),
    });
    const parts = [
      el(
        "legend",
        {},
        el("span", { class: "q-number", text: t("question_n", { n: number }) }),
        el("span", { class: "q-text", text: question.text, dir: "auto" }),
      ),
      el("p", {
        class: "q-meta",
        text: `${t("points", { n: question.points })} · ${question.multiple ? t("choose_many") : t("choose_one")}`,
      }),
    ];
    if (question.image_url) parts.push(el("img", { src: question.image_url, alt: "", class: "q-image" }));
    form.append(
      el(
        "fieldset",
        { class: "question", id: `q-${question.id}`, "data-question": String(question.id) },
        ...parts,
        el("div", { class: "choices" }, ...choices),
        flag,
      ),
    );
    navList.append(el("li", {}, el("a", { href: `#q-${question.id}`, "data-nav": String(question.id) })));
  });
  updateNavigator();
}

function updateNavigator() {
  questions.forEach((question, index) => {
    const link = navList.querySelector(`[data-nav="${question.id}"]`);
    const answered = (answers.get(question.id) || []).length > 0;
    const flagged = flags.has(question.id);
    link.className = `nav-item${answered ? " is-answered" : ""}${flagged ? " is-flagged" : ""}`;
    link.textContent = "";
    const states = [answered ? t("answered") : t("unanswered"), flagged ? t("flagged") : null].filter(Boolean);
    link.append(
      el("span", { class: "nav-number", text: String(index + 1) }),
      el("span", { class: "mark", "aria-hidden": "true", text: `${answered ? "✓" : ""}${flagged ? "⚑" : ""}` }),
      el("span", { class: "visually-hidden", text: `${t("question_n", { n: index + 1 })}: ${states.join(", ")}` }),
    );
  });
}

function choicesOf(questionId) {
  return [...form.querySelectorAll(`input[name="q-${questionId}"]:checked`)].map((input) => Number(input.value));
}

form.addEventListener("change", (event) => {
  const input = event.target;
  if (locked || !input.name?.startsWith("q-")) return;
  const questionId = Number(input.name.slice(2));
  const chosen = choicesOf(questionId);
  answers.set(questionId, chosen);
  updateNavigator();
  outbox.put(questionId, chosen);
});

form.addEventListener("click", (event) => {
  const button = event.target.closest("[data-flag]");
  if (!button) return;
  const questionId = Number(button.dataset.flag);
  if (flags.has(questionId)) flags.delete(questionId);
  else flags.add(questionId);
  sessionStorage.setItem(flagsKey, JSON.stringify([...flags]));
  button.setAttribute("aria-pressed", flags.has(questionId) ? "true" : "false");
  updateNavigator();
});

// --- time ----------------------------------------------------------------------------------------
function formatRemaining(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const two = (n) => String(n).padStart(2, "0");
  return hours ? `${hours}:${two(minutes)}:${two(seconds)}` : `${two(minutes)}:${two(seconds)}`;
}

function warn(text) {
  showError(timeAlert, text);
}

async function tick() {
  if (!deadline) return;
  const remaining = deadline - serverNow();
  const text = t("time_left", { time: formatRemaining(remaining) });
  if (timerEl.textContent !== text) timerEl.textContent = text;
  if (locked) return;
  if (remaining <= 60_000 && !warned[1]) {
    warned[1] = warned[5] = true;
    warn(t("warn_1"));
  } else if (remaining <= 300_000 && !warned[5]) {
    warned[5] = true;
    warn(t("warn_5"));
  }
  if (remaining <= 0) await reachDeadline();
}

let checkingDeadline = false;
async function checkDeadline() {
  if (checkingDeadline) return;
  checkingDeadline = true;
  try {
    const attempt = await api(`/api/exams/${examId}/attempt`, { method: "POST" });
    setDeadline(attempt.deadline);
  } catch {
    /* offline: keep the deadline we know */
  } finally {
    checkingDeadline = false;
  }
}

function setDeadline(iso) {
  const next = Date.parse(iso);
  if (next > deadline) warned = { 5: next - serverNow() <= 300_000 && warned[5], 1: next - serverNow() <= 60_000 && warned[1] };
  deadline = next;
}

let reaching = false;
async function reachDeadline() {
  if (reaching) return; // the next ticks wait for this one's answer
  reaching = true;
  try {
    await checkDeadline(); // an accommodation may have moved it
    if (deadline - serverNow() > 0) return;
    lock();
    warn(t("time_up"));
    outbox.flush({ now: true }); // the server still takes saves within its grace period
  } finally {
    reaching = false;
  }
}

function lock() {
  if (locked) return;
  locked = true;
  for (const input of form.querySelectorAll("input, button")) input.disabled = true;
  finishButton.disabled = true;
  links.hidden = false;
}

// --- finishing -----------------------------------------------------------------------------------
finishButton.addEventListener("click", () => {
  const summary = document.getElementById("finish-summary");
  const unanswered = [];
  const flagged = [];
  questions.forEach((question, index) => {
    if (!(answers.get(question.id) || []).length) unanswered.push(index + 1);
    if (flags.has(question.id)) flagged.push(index + 1);
  });
  summary.textContent = "";
  summary.append(el("p", { text: t("finish_summary", { answered: questions.length - unanswered.length, total: questions.length }) }));
  if (unanswered.length) summary.append(el("p", { text: t("finish_unanswered", { list: formatList(unanswered) }) }));
  if (flagged.length) summary.append(el("p", { text: t("finish_flagged", { list: formatList(flagged) }) }));
  if (outbox.size) summary.append(el("p", { text: t("finish_waiting", { n: outbox.size }) }));
  showError(document.getElementById("finish-error"), "");
  dialog.showModal();
});

document.getElementById("finish-cancel").addEventListener("click", () => dialog.close());

document.getElementById("finish-confirm").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  const errorEl = document.getElementById("finish-error");
  button.disabled = true;
  showError(errorEl, t("finishing"));
  try {
    if (!(await outbox.drain())) {
      showError(errorEl, t("finish_failed"));
      return;
    }
    await api(`/api/exams/${examId}/finish`, { method: "POST" });
    dialog.close();
    lock();
    body.hidden = true;
    say(t("finished"));
    document.getElementById("result-link").hidden = false;
    messageEl.focus();
  } catch (error) {
    showError(errorEl, messageFor(error));
  } finally {
    button.disabled = false;
  }
});

// --- loading -------------------------------------------------------------------------------------
async function load() {
  const current = requireStudent();
  if (!current) return;
  const userId = current.user?.id ?? "me";
  outbox = new Outbox({ key: `exams.outbox.${userId}.${examId}`, send: sendAnswers, onChange: showSaveState });
  flagsKey = `exams.flags.${userId}.${examId}`;
  flags = new Set(JSON.parse(sessionStorage.getItem(flagsKey) || "[]"));

  let exam = await api(`/api/exams/${examId}`);
  titleEl.textContent = exam.title;
  document.title = `${exam.title} · ${document.title.split(" · ").pop()}`;
  if (exam.kind !== "online") return say(t("not_online"));
  let attempt = exam.attempt;
  if (attempt?.finished_at) {
    document.getElementById("result-link").hidden = !exam.result_available;
    return say(t("finished"));
  }
  if (!attempt) {
    const now = serverNow();
    if (exam.opens_at && now < Date.parse(exam.opens_at)) return say(t("not_open_yet", { time: formatTime(exam.opens_at) }));
    try {
      attempt = await api(`/api/exams/${examId}/attempt`, { method: "POST" });
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) return say(t("closed"));
      throw error;
    }
    exam = await api(`/api/exams/${examId}`); // the questions this attempt was given, in its order
  }
  const saved = await api(`/api/exams/${examId}/answers`);
  questions = exam.questions;
  answers = new Map(saved.answers.map((answer) => [answer.question, answer.choices]));
  for (const question of questions) {
    const waiting = outbox.waiting(question.id);
    if (waiting) answers.set(question.id, waiting); // not acknowledged yet: newer than the server's
  }
  setDeadline(attempt.deadline);
  render();
  body.hidden = false;
  showSaveState();
  performance.mark("exam-usable"); // read by the B8 benchmark (bench/b8_site.py)
  await tick();
  setInterval(tick, 500);
  setInterval(checkDeadline, DEADLINE_CHECK_MS);
  outbox.flush({ now: true });
}

load().catch((error) => {
  showError(errorBox, error instanceof NetworkError || error instanceof ApiError ? messageFor(error) : String(error));
  links.hidden = false;
});
