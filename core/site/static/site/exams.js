import { api, el, formatTime, messageFor, requireStudent, serverNow, showError, t } from "./common.js";

const list = document.getElementById("exam-list");
const loading = document.getElementById("exams-loading");
const errorBox = document.getElementById("page-error");

/** Where the student stands with an exam, by the server's clock: [state, words]. */
export function examState(exam, now) {
  const opens = exam.opens_at ? Date.parse(exam.opens_at) : null;
  const closes = exam.closes_at ? Date.parse(exam.closes_at) : null;
  const attempt = exam.attempt;
  if (exam.result_available) return ["graded", t("state_graded")];
  if (exam.kind === "handin") return ["handin", t("state_handin", { time: formatTime(exam.closes_at) })];
  if (attempt?.finished_at || (attempt && Date.parse(attempt.deadline) <= now)) return ["finished", t("state_finished")];
  if (attempt) return ["open", t("state_in_progress", { time: formatTime(attempt.deadline) })];
  if (opens !== null && now < opens) return ["upcoming", t("state_upcoming", { time: formatTime(exam.opens_at) })];
  if ((closes !== null && now >= closes) || exam.status === "closed" || exam.status === "graded") {
    return ["finished", t("state_closed", { time: formatTime(exam.closes_at) })];
  }
  return ["open", t("state_open", { time: formatTime(exam.closes_at) })];
}

function link(exam, state) {
  if (exam.kind === "handin") return "/app/handin/";
  if (state === "graded" || exam.kind === "paper") return `/app/exams/${exam.id}/result/`;
  return `/app/exams/${exam.id}/`;
}

async function load() {
  if (!requireStudent()) return;
  const exams = [];
  try {
    let page = "/api/exams";
    while (page) {
      const body = await api(page);
      exams.push(...body.results);
      page = body.next ? new URL(body.next, location.origin).pathname + new URL(body.next, location.origin).search : null;
    }
  } catch (error) {
    loading.hidden = true;
    showError(errorBox, messageFor(error));
    return;
  }
  loading.hidden = true;
  if (!exams.length) {
    list.replaceWith(el("p", { text: t("no_exams") }));
    return;
  }
  const now = serverNow();
  for (const exam of exams) {
    const [state, words] = examState(exam, now);
    const details = [exam.subject, exam.kind === "online" ? t("duration", { minutes: exam.duration_minutes }) : null];
    list.append(
      el(
        "li",
        { class: `exam-item state-${state}` },
        el("a", { href: link(exam, state), text: exam.title, dir: "auto" }),
        el("span", { class: `badge badge-${state}`, text: words }),
        el("span", { class: "exam-meta", text: details.filter(Boolean).join(" · ") }),
      ),
    );
  }
}

load();
