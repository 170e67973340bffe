"""Signals the exam app sends to the apps above it (which connect handlers that only enqueue tasks)."""

from django.dispatch import Signal

# Sent once, when a student's attempt becomes finished, with `exam_id` and `student_id`.
attempt_finished = Signal()
