from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.common.admin import RoleScopedAdmin
from core.jobs.models import Job
from core.jobs.serializers import job_payload


@admin.register(Job)
class JobAdmin(RoleScopedAdmin):
    """Jobs with a live progress bar: the change list's template polls `progress_json` for every job
    that is still queued or running (the admin is logged in with a session, which the API's
    JWT and API-key authentication do not take, so the admin has its own small JSON view)."""

    doctor_can = frozenset({"view"})
    change_list_template = "admin/jobs/job/change_list.html"
    list_display = ("id", "kind", "status", "progress", "created_by", "created_at", "finished_at")
    list_filter = ("kind", "status")
    readonly_fields = (
        "kind",
        "status",
        "total",
        "processed",
        "errors",
        "params",
        "created_by",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
    )

    def doctor_queryset(self, request, queryset):
        return queryset.filter(created_by=request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False

    @admin.display(description="progress")
    def progress(self, job: Job) -> str:
        percent = 100 if job.status == Job.Status.DONE else (100 * job.processed // job.total if job.total else 0)
        return format_html(
            '<div class="job-progress" data-url="{}" data-status="{}">'
            '<div class="job-progress-bar"><div class="job-progress-fill" data-percent="{}"></div></div>'
            '<span class="job-progress-text">{} / {}</span></div>',
            reverse("admin:jobs_job_progress", args=[job.pk]),
            job.status,
            min(percent, 100),
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
        return JsonResponse(job_payload(job))
