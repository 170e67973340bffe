"""The exam app's errors, each with the code that docs/api.md names."""

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


class StudentNotInExam(NotFound):
    code, detail = "not_found", "No such student in this exam's level."


class AccommodationNotFound(NotFound):
    code, detail = "not_found", "This student has no accommodation in this exam."


class AttemptNotFound(NotFound):
    code, detail = "not_found", "This student has not started this exam."


class ExamNotClosed(Conflict):
    code = "exam_not_closed"
    detail = "An attempt of this exam can still save; results can be released once none can."


class ResultsReleased(Conflict):
    code = "results_released"
    detail = "The results of this exam are released; withdraw the release before letting anyone save again."
