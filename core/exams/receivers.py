"""Keep the cached answer key honest whatever changed the exam: services, the admin, or the shell."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from core.exams.caching import exam_key_invalidate
from core.exams.models import Choice, Exam, Question


def _exam_changed(exam_id: int | None) -> None:
    if exam_id is None:
        return
    # A question or choice edit is an edit of the exam: its updated_at is the version of the key.
    Exam.objects.filter(pk=exam_id).update(updated_at=timezone.now())
    exam_key_invalidate(exam_id=exam_id)


@receiver(post_save, sender=Exam, dispatch_uid="exams.exam_saved")
@receiver(post_delete, sender=Exam, dispatch_uid="exams.exam_deleted")
def exam_saved_or_deleted(sender: type[Exam], instance: Exam, **kwargs: Any) -> None:
    exam_key_invalidate(exam_id=instance.pk)


@receiver(post_save, sender=Question, dispatch_uid="exams.question_saved")
@receiver(post_delete, sender=Question, dispatch_uid="exams.question_deleted")
def question_saved_or_deleted(sender: type[Question], instance: Question, **kwargs: Any) -> None:
    _exam_changed(instance.exam_id)


@receiver(post_save, sender=Choice, dispatch_uid="exams.choice_saved")
@receiver(post_delete, sender=Choice, dispatch_uid="exams.choice_deleted")
def choice_saved_or_deleted(sender: type[Choice], instance: Choice, **kwargs: Any) -> None:
    exam_id = Question.objects.filter(pk=instance.question_id).values_list("exam_id", flat=True).first()
    _exam_changed(exam_id)
