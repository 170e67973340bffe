import { ApiError, api, el, formatList, messageFor, requireStudent, showError, t } from "./common.js";

const root = document.getElementById("result");
const examId = Number(root.dataset.examId);
const scoreEl = document.getElementById("score");
const errorBox = document.getElementById("page-error");

function choiceTexts(ids, question) {
  const byId = new Map((question?.choices || []).map((choice) => [choice.id, choice.text]));
  const texts = (ids || []).map((item) => (typeof item === "object" ? item.text : byId.get(item) ?? String(item)));
  return texts.length ? formatList(texts) : t("no_answer");
}

async function load() {
  if (!requireStudent()) return;
  const exam = await api(`/api/exams/${examId}`);
  document.getElementById("exam-title").textContent = exam.title;
  let result;
  try {
    result = await api(`/api/exams/${examId}/result`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      scoreEl.textContent = t("no_result");
      return;
    }
    throw error;
  }
  scoreEl.textContent = t("score", {
    obtained: result.marks_obtained,
    available: result.marks_available,
    percentage: Math.round(result.percentage * 10) / 10,
  });
  let review;
  try {
    review = await api(`/api/exams/${examId}/review`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return; // this exam shows the score only
    throw error;
  }
  const questions = new Map((exam.questions || []).map((question) => [question.id, question]));
  const list = document.getElementById("review-list");
  for (const item of review.questions || []) {
    const question = questions.get(item.id);
    list.append(
      el(
        "li",
        { class: "review-item" },
        el("p", { class: "q-text", text: item.text, dir: "auto" }),
        el("p", { text: t("your_answer", { list: choiceTexts(item.your_choices, question) }) }),
        el("p", { text: t("correct_answer", { list: choiceTexts(item.correct_choices, question) }) }),
        el("p", { class: "q-meta", text: t("marks", { obtained: item.marks_obtained, points: item.points }) }),
      ),
    );
  }
  document.getElementById("review").hidden = false;
}

load().catch((error) => {
  scoreEl.textContent = "";
  showError(errorBox, messageFor(error));
});
