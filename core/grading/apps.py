from typing import Any

from django.apps import AppConfig


def _grade_finished_attempt(sender: Any, *, exam_id: int, student_id: int, **kwargs: Any) -> None:
    """Only enqueues: the grading runs in a worker, once the finish is committed."""
    from core.grading.tasks import attempt_grade_task

    attempt_grade_task.delay_on_commit(exam_id, student_id)


class GradingConfig(AppConfig):
    name = "core.grading"
    label = "grading"

    def ready(self) -> None:
        from core.exams.signals import attempt_finished

        attempt_finished.connect(_grade_finished_attempt, dispatch_uid="grading.grade_finished_attempt")
