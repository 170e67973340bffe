from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from core.common.admin import RoleScopedAdmin
from core.jobs.models import Job
from core.jobs.serializers import job_payload

# How many failed rows a job's page lists; the API (GET /api/jobs/{id}) has them all.
ERRORS_SHOWN_MAX = 1000


def job_outcome(job: Job) -> str:
    """The job's state in words a person reads: a job that finished with failed rows says so."""
    failed = len(job.errors or [])
    if job.status == Job.Status.DONE and failed:
        return f"Done, {failed} row{'' if failed == 1 else 's'} failed"
    return job.get_status_display()


@admin.register(Job)
class JobAdmin(RoleScopedAdmin):
    """Jobs with a live progress bar: `jobs/progress.js` polls `progress_json` for every job that is still
    queued or running (the admin is logged in with a session, which the API's JWT and API-key authentication
    do not take, so the admin has its own small JSON view). A job that finished with failed rows is shown as
    such, and its page lists them by line number."""

    doctor_can = frozenset({"view"})
    list_display = ("id", "kind", "outcome", "progress", "file_name", "created_by", "created_at", "finished_at")
    list_filter = ("kind", "status")
    fields = (
        "kind",
        "outcome",
        "total",
        "processed",
        "file_name",
        "exam_id",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "failed_rows",
    )
    readonly_fields = fields

    class Media:
        css = {"all": ("jobs/progress.css",)}
        js = ("jobs/progress.js",)

    def doctor_queryset(self, request, queryset):
        return queryset.filter(created_by=request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        extra_context = {**(extra_context or {}), "import_url": reverse("imports-admin-start")}
        return super().changelist_view(request, extra_context)

    @admin.display(description="status", ordering="status")
    def outcome(self, job: Job) -> str:
        return job_outcome(job)

    @admin.display(description="file")
    def file_name(self, job: Job) -> str:
        return str((job.params or {}).get("name") or "")  # the name it was sent with, never the storage key

    @admin.display(description="exam")
    def exam_id(self, job: Job) -> str:
        return str((job.params or {}).get("exam_id") or "")

    @admin.display(description="failed rows")
    def failed_rows(self, job: Job) -> str:
        errors = list(job.errors or [])
        if not errors:
            return "none"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            ((error.get("row") if error.get("row") is not None else "whole file", error.get("message", ""))
             for error in errors[:ERRORS_SHOWN_MAX]),
        )  # fmt: skip
        more = len(errors) - ERRORS_SHOWN_MAX
        note = format_html("<p>and {} more (GET /api/jobs/{} lists them all)</p>", more, job.pk) if more > 0 else ""
        return format_html(
            '<table class="job-errors"><thead><tr><th scope="col">line</th><th scope="col">problem</th></tr></thead>'
            "<tbody>{}</tbody></table>{}",
            rows,
            note,
        )

    @admin.display(description="progress")
    def progress(self, job: Job) -> str:
        total = max(job.total, job.processed, 1)
        value = total if job.status == Job.Status.DONE else min(job.processed, total)
        return format_html(
            '<div class="job-progress" data-url="{}" data-status="{}" data-failed="{}">'
            '<progress class="job-progress-bar" max="{}" value="{}">{} / {}</progress>'
            '<span class="job-progress-text">{} / {}</span></div>',
            reverse("admin:jobs_job_progress", args=[job.pk]),
            job.status,
            len(job.errors or []),
            total,
            value,
            job.processed,
            job.total,
            job.processed,
            job.total,
        )

    def get_urls(self):
        extra = [
            path(
                "<int:job_id>/progress.json",
                self.admin_site.admin_view(self.progress_json),
                name="jobs_job_progress",
            )
        ]
        return extra + super().get_urls()

    def progress_json(self, request: HttpRequest, job_id: int) -> JsonResponse:
        job = self.get_queryset(request).filter(id=job_id).first()
        if job is None or not self.has_view_permission(request, job):
            return JsonResponse({"error": "not_found", "detail": "No such job."}, status=404)
        return JsonResponse({**job_payload(job), "outcome": job_outcome(job)})
