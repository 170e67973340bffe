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
    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="questions")
    text = models.TextField()
    image = models.ImageField(upload_to="questions/", null=True, blank=True)
    points = models.PositiveIntegerField(default=1)
    position = models.PositiveIntegerField(default=0)

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

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [models.UniqueConstraint(fields=["exam", "student"], name="exams_attempt_one_per_student")]

    def __str__(self) -> str:
        return f"attempt of {self.student_id} at {self.exam_id}"

    @staticmethod
    def deadline_for(*, exam: Exam, started_at: datetime) -> datetime:
        deadline = started_at + timedelta(minutes=exam.duration_minutes)
        return min(deadline, exam.closes_at) if exam.closes_at else deadline
