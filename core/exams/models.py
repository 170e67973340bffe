from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models


class Exam(models.Model):
    class Kind(models.TextChoices):
        ONLINE = "online", "Online"
        PAPER = "paper", "Paper"
        HANDIN = "handin", "Hand-in"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        CLOSED = "closed", "Closed"
        GRADED = "graded", "Graded"

    class Review(models.TextChoices):
        NONE = "none", "Nothing beyond the exam being graded"
        SCORE = "score", "The score"
        ANSWERS = "answers", "The score and the answers"

    # Status only moves forward, in this order.
    STATUS_ORDER = (Status.DRAFT, Status.PUBLISHED, Status.CLOSED, Status.GRADED)

    # Unique; also the Markr test-id, so it may not contain "/".
    code = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    subject = models.ForeignKey("accounts.Subject", on_delete=models.PROTECT, related_name="exams")
    level = models.ForeignKey("accounts.Level", null=True, blank=True, on_delete=models.PROTECT, related_name="exams")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="owned_exams"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ONLINE)
    opens_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField(null=True, blank=True)
    duration_minutes = models.PositiveIntegerField(default=60)
    grace_seconds = models.PositiveIntegerField(default=30)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    results_released = models.BooleanField(default=False)
    # Per attempt, fixed when it starts (Attempt.question_order and choice_order).
    shuffle_questions = models.BooleanField(default=False)
    shuffle_choices = models.BooleanField(default=False)
    questions_per_attempt = models.PositiveIntegerField(null=True, blank=True)
    # What a student may see once results are released.
    review = models.CharField(max_length=10, choices=Review.choices, default=Review.SCORE)
    # Moves by one whenever closes_at or duration_minutes change: an attempt window cached under another value
    # is stale, so every running attempt sees the new deadline (core/exams/accommodations.py).
    timing_version = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.code}: {self.title}"

    def is_open_at(self, moment: datetime) -> bool:
        if self.status != self.Status.PUBLISHED:
            return False
        if self.opens_at and moment < self.opens_at:
            return False
        return not (self.closes_at and moment >= self.closes_at)


class Question(models.Model):
    class Scoring(models.TextChoices):
        # The points when the chosen set equals the correct set, else 0.
        ALL_OR_NOTHING = "all_or_nothing", "All or nothing"
        # points x max(0, right picks - wrong picks) / number of correct choices.
        PARTIAL = "partial", "Partial credit"

    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="questions")
    text = models.TextField()
    image = models.ImageField(upload_to="questions/", null=True, blank=True)
    points = models.PositiveIntegerField(default=1)
    position = models.PositiveIntegerField(default=0)
    scoring = models.CharField(max_length=20, choices=Scoring.choices, default=Scoring.ALL_OR_NOTHING)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.text[:60]


class Choice(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="choices")
    text = models.CharField(max_length=500)
    is_correct = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.text[:60]


class Attempt(models.Model):
    """One per (student, exam). All time is server time."""

    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="attempts")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attempts")
    started_at = models.DateTimeField()
    deadline = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # The ids of the questions this attempt was given, in its order, fixed at start; null for an attempt
    # started before orders were stored, which was given every question in the exam's order.
    question_order = models.JSONField(null=True, blank=True)
    # Question id (as a string: JSON keys) -> that question's choice ids in this attempt's order; a question
    # missing here shows its choices in the exam's order.
    choice_order = models.JSONField(default=dict, blank=True)
    # Set by a reopen (an incident): the attempt may save until then, whatever the exam's window says.
    reopened_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [models.UniqueConstraint(fields=["exam", "student"], name="exams_attempt_one_per_student")]

    def __str__(self) -> str:
        return f"attempt of {self.student_id} at {self.exam_id}"

    @staticmethod
    def deadline_for(
        *,
        exam: Exam,
        started_at: datetime,
        extra_minutes: int = 0,
        closes_at_for_them: datetime | None = None,
        reopened_until: datetime | None = None,
    ) -> datetime:
        """The deadline rule, the one place it is written (docs/exams.md): min(started_at + duration + extra,
        closes_at for them), where closes_at for them is the accommodation's own closes_at or else the exam's
        closes_at + extra; a reopen's reopened_until, when later, wins."""
        extra = timedelta(minutes=extra_minutes)
        deadline = started_at + timedelta(minutes=exam.duration_minutes) + extra
        closes = closes_at_for_them
        if closes is None and exam.closes_at is not None:
            closes = exam.closes_at + extra
        if closes is not None:
            deadline = min(deadline, closes)
        if reopened_until is not None:
            deadline = max(deadline, reopened_until)
        return deadline

    def questions_given(self, exam_order: list[int]) -> list[int]:
        """This attempt's question ids in its order, from the exam's question ids in the exam's order."""
        if self.question_order is None:
            return list(exam_order)
        known = set(exam_order)
        return [question_id for question_id in self.question_order if question_id in known]

    def choices_in_order(self, question_id: int, choice_ids: list[int]) -> list[int]:
        """A question's choice ids (in the exam's order) in this attempt's order."""
        order = (self.choice_order or {}).get(str(question_id))
        if not order:
            return list(choice_ids)
        rank = {choice_id: index for index, choice_id in enumerate(order)}
        return sorted(choice_ids, key=lambda choice_id: rank.get(choice_id, len(rank)))


class Accommodation(models.Model):
    """Extra time for one student in one exam, and optionally a later closing time for them. The deadline it
    gives is computed in one place: core/exams/accommodations.py."""

    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="accommodations")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="accommodations")
    extra_minutes = models.PositiveIntegerField(default=0)
    closes_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["exam_id", "student_id"]
        constraints = [models.UniqueConstraint(fields=["exam", "student"], name="exams_accommodation_one_per_student")]

    def __str__(self) -> str:
        return f"+{self.extra_minutes} min for {self.student_id} at {self.exam_id}"
