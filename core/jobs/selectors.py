from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.common.errors import NotFound
from core.common.permissions import ADMIN
from core.jobs.models import Job


def _is_admin(user: Any) -> bool:
    return getattr(user, "role", None) == ADMIN or getattr(user, "is_superuser", False)


def job_get(*, user: Any, job_id: int) -> Job:
    """The job, when `user` started it or is an admin; NotFound otherwise (as if it did not exist)."""
    jobs = Job.objects.all() if _is_admin(user) else Job.objects.filter(created_by=user)
    job = jobs.filter(id=job_id).first()
    if job is None:
        raise NotFound("No such job.")
    return job


def job_list(*, user: Any, mine: bool) -> QuerySet[Job]:
    """Newest first. An admin sees every job unless `mine`; anyone else sees only their own."""
    jobs = Job.objects.all() if _is_admin(user) and not mine else Job.objects.filter(created_by=user)
    return jobs.order_by("-created_at", "-id")
