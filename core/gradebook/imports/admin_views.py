"""A small admin page where a doctor starts an import; it then shows the job in the jobs admin, whose
progress bar updates without reloading. Reached at /imports/new (the admin's catch-all owns /admin/...)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template import engines
from django.urls import reverse

from core.common.errors import DomainError
from core.gradebook.imports import services
from core.gradebook.imports.files import ImportFileTooLarge
from core.jobs.models import Job

_PAGE = """{% extends "admin/base_site.html" %}
{% block content %}
<h1>Import a grade file</h1>
<p>CSV (UTF-8) or XLSX for subject grades, degrees and students; Markr XML for markr. Columns:
subject_grades <code>student_id, subject, grade</code>; degrees <code>student_number, marks_obtained,
marks_available</code> (and choose the exam); students <code>student_number, full_name, email, level</code>.</p>
<form method="post" enctype="multipart/form-data">{% csrf_token %}
<table>{{ form.as_table }}</table>
<input type="submit" value="Start the import">
</form>
<p><a href="{{ jobs_url }}">Your jobs and their progress</a></p>
{% endblock %}"""


class ImportForm(forms.Form):
    kind = forms.ChoiceField(choices=[(k, Job.Kind(k).label) for k in services.IMPORT_KINDS])
    exam = forms.IntegerField(required=False, min_value=1, help_text="The exam's id, for degrees only.")
    file = forms.FileField()


def import_start_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    if getattr(user, "role", None) not in ("doctor", "admin"):
        return HttpResponse("Only doctors and admins start imports.", status=403)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > settings.IMPORT_MAX_BYTES:
                raise ImportFileTooLarge(f"The file is larger than the limit of {settings.IMPORT_MAX_BYTES} bytes.")
            job = services.import_start(
                user=user,  # type: ignore[arg-type]
                kind=form.cleaned_data["kind"],
                file=upload,
                file_name=upload.name or "",
                exam_id=form.cleaned_data.get("exam"),
            )
        except DomainError as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, f"Import job #{job.pk} is queued; its progress shows below.")
            return HttpResponseRedirect(reverse("admin:jobs_job_changelist"))
    template = engines["django"].from_string(_PAGE)
    context = {
        **admin.site.each_context(request),
        "title": "Import a grade file",
        "form": form,
        "jobs_url": reverse("admin:jobs_job_changelist"),
    }
    return HttpResponse(template.render(context, request))
