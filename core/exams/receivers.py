"""Keep the cached answer key honest whatever changed the exam: services, the admin, or the shell. A change of
closes_at or duration_minutes, from any of them, also moves the deadlines of the attempts already running."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone

from core.exams.accommodations import exam_timing_changed
from core.exams.caching import exam_key_invalidate
from core.exams.models import Choice, Exam, Question


def _exam_changed(exam_id: int | None) -> None:
    if exam_id is None:
        return
    # A question or choice edit is an edit of the exam: its updated_at moves, and its cached key is dropped.
    Exam.objects.filter(pk=exam_id).update(updated_at=timezone.now())
    exam_key_invalidate(exam_id=exam_id)


@receiver(post_save, sender=Exam, dispatch_uid="exams.exam_saved")
@receiver(post_delete, sender=Exam, dispatch_uid="exams.exam_deleted")
def exam_saved_or_deleted(sender: type[Exam], instance: Exam, **kwargs: Any) -> None:
    exam_key_invalidate(exam_id=instance.pk)


_TIMING_FIELDS = ("closes_at", "duration_minutes")


@receiver(pre_save, sender=Exam, dispatch_uid="exams.exam_timing_before")
def exam_timing_before(sender: type[Exam], instance: Exam, update_fields: Any = None, **kwargs: Any) -> None:
    if instance.pk is None or (update_fields is not None and not set(_TIMING_FIELDS) & set(update_fields)):
        return
    instance._timing_before = Exam.objects.filter(pk=instance.pk).values_list(*_TIMING_FIELDS).first()  # type: ignore[attr-defined]


@receiver(post_save, sender=Exam, dispatch_uid="exams.exam_timing_after")
def exam_timing_after(sender: type[Exam], instance: Exam, created: bool, **kwargs: Any) -> None:
    before = getattr(instance, "_timing_before", None)
    instance._timing_before = None  # type: ignore[attr-defined]
    if created or before is None or tuple(before) == tuple(getattr(instance, f) for f in _TIMING_FIELDS):
        return
    with transaction.atomic():
        exam_timing_changed(exam=instance, now=timezone.now())
        # The saved instance must not write the old version back if it is saved again.
        instance.timing_version = Exam.objects.values_list("timing_version", flat=True).get(pk=instance.pk)


@receiver(post_save, sender=Question, dispatch_uid="exams.question_saved")
@receiver(post_delete, sender=Question, dispatch_uid="exams.question_deleted")
def question_saved_or_deleted(sender: type[Question], instance: Question, **kwargs: Any) -> None:
    _exam_changed(instance.exam_id)


@receiver(post_save, sender=Choice, dispatch_uid="exams.choice_saved")
@receiver(post_delete, sender=Choice, dispatch_uid="exams.choice_deleted")
def choice_saved_or_deleted(sender: type[Choice], instance: Choice, **kwargs: Any) -> None:
    exam_id = Question.objects.filter(pk=instance.question_id).values_list("exam_id", flat=True).first()
    _exam_changed(exam_id)
