"""The exam app's errors, each with the code that API.md names."""

from core.common.errors import Conflict, Invalid, NotFound


class ExamNotFound(NotFound):
    code, detail = "not_found", "No such exam."


class ExamCodeTaken(Conflict):
    code, detail = "exam_code_taken", "Another exam already has this code."


class ExamNotOpen(Conflict):
    code, detail = "exam_not_open", "This exam is not open now."


class StatusNotForward(Conflict):
    code, detail = "status_not_forward", "An exam's status only moves forward: draft, published, closed, graded."


class QuestionsLocked(Conflict):
    code = "questions_locked"
    detail = "Students have started this exam: questions and choices can be corrected but not added or removed."


class DrawLocked(Conflict):
    code = "draw_locked"
    detail = "Students have started this exam: the number of questions per attempt cannot change."


class AttemptNotStarted(Conflict):
    code, detail = "attempt_not_started", "Start the exam (POST /api/exams/{id}/attempt) before saving answers."


class AttemptClosed(Conflict):
    code, detail = "attempt_closed", "This attempt is over: it was finished, or its deadline and grace have passed."


class ExamInvalid(Invalid):
    code, detail = "validation_error", "The exam is not valid."


class AnswersInvalid(Invalid):
    code, detail = "validation_error", "Some answers do not fit this exam; nothing was saved."
