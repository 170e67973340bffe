"""A small admin page where a doctor starts an import; it then shows the job in the jobs admin, whose
progress bar updates without reloading. Reached at /imports/new (the admin's catch-all owns /admin/...), from the
admin's navigation and the jobs list."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from core.accounts.models import Role, User
from core.common.errors import DomainError
from core.common.uploads import file_too_large
from core.exams.models import Exam
from core.imports import services
from core.jobs.models import Job


class ExamChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.code}: {obj.title}"


class ImportForm(forms.Form):
    kind = forms.ChoiceField(choices=[(k, Job.Kind(k).label) for k in services.IMPORT_KINDS])
    exam = ExamChoiceField(
        queryset=Exam.objects.none(),
        required=False,
        help_text="For degrees only: the paper or hand-in exam they belong to (online exams are graded, not imported).",
    )
    file = forms.FileField()

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        exams = Exam.objects.exclude(kind=Exam.Kind.ONLINE).order_by("code")
        if not (user.is_superuser or user.role == Role.ADMIN):
            exams = exams.filter(owner=user)
        self.fields["exam"].queryset = exams  # type: ignore[attr-defined]


def import_start_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    if getattr(user, "role", None) not in ("doctor", "admin"):
        return HttpResponse("Only doctors and admins start imports.", status=403)
    form = ImportForm(request.POST or None, request.FILES or None, user=user)  # type: ignore[arg-type]
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        exam = form.cleaned_data.get("exam")
        try:
            if upload.size > settings.IMPORT_MAX_BYTES:
                raise file_too_large(settings.IMPORT_MAX_BYTES)
            job = services.import_start(
                user=user,  # type: ignore[arg-type]
                kind=form.cleaned_data["kind"],
                file=upload,
                file_name=upload.name or "",
                exam_id=exam.pk if exam is not None else None,
            )
        except DomainError as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, f"Import job #{job.pk} is queued; its progress shows below.")
            return HttpResponseRedirect(reverse("admin:jobs_job_changelist"))
    context = {
        **admin.site.each_context(request),
        "title": "Import a grade file",
        "form": form,
        "jobs_url": reverse("admin:jobs_job_changelist"),
    }
    return TemplateResponse(request, "admin/imports/start.html", context)
