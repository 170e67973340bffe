"""Degrees in the admin (CSV/XLSX import and export), and the exam admin with grading on top.

The exam admin belongs to core.exams, which may not import grading (layers point down). So this module
replaces the registered ExamAdmin with a subclass that makes the exam's page a dashboard (attempts, Grade now,
Release, exports, statistics): docs/decisions/0002-grading-admin-extends-exam-admin.md."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from rest_framework.exceptions import APIException, NotFound

from core.accounts.authentication import request_user
from core.accounts.models import Role, User
from core.common.admin import RoleScopedImportExportAdmin
from core.common.errors import DomainError
from core.exams.accommodations import (
    accommodation_list,
    accommodation_remove,
    accommodation_set,
    attempt_reopen,
    closes_at_for,
)
from core.exams.admin import ExamAdmin
from core.exams.models import Choice, Exam
from core.exams.save_rate import save_rate_read
from core.exams.selectors import attempt_counts, attempt_history, attempt_list, attempt_of_student
from core.exams.services import exam_update
from core.grading.apis import DEGREE_COLUMNS
from core.grading.models import Degree
from core.grading.renderers import CSVRenderer, XLSXRenderer
from core.grading.resources import DegreeResource
from core.grading.selectors import HISTOGRAM_BINS, attempt_marks, degree_rows, exam_stats
from core.grading.services import degree_override, degree_override_remove, exam_grade_start


@admin.register(Degree)
class DegreeAdmin(RoleScopedImportExportAdmin):
    """A doctor sees the degrees of their own exams. Online exams' degrees are read-only (they come only from
    grading); degrees of paper exams can be imported, added and corrected."""

    doctor_can = frozenset({"view", "add", "change", "delete"})
    resource_classes = [DegreeResource]
    list_display = ("exam", "student_number", "student_name", "marks_obtained", "marks_available", "percent", "source")
    list_filter = ("source", "exam__kind")
    search_fields = ("student__student_number", "student__full_name", "exam__code")
    list_select_related = ("student", "exam")
    raw_id_fields = ("student",)
    fields = ("exam", "student", "marks_obtained", "marks_available", "source", "graded_at")
    readonly_fields = ("source", "graded_at")
    ordering = ("exam__code", "student__student_number")

    @admin.display(ordering="student__student_number", description="student number")
    def student_number(self, degree: Degree) -> str:
        return degree.student.student_number or ""

    @admin.display(ordering="student__full_name", description="name")
    def student_name(self, degree: Degree) -> str:
        return degree.student.full_name

    @admin.display(ordering="percentage", description="%")
    def percent(self, degree: Degree) -> str:
        return f"{degree.percentage:.1f}"

    def doctor_queryset(self, request: HttpRequest, queryset: QuerySet[Degree]) -> QuerySet[Degree]:
        return queryset.filter(exam__owner=request_user(request))

    def has_change_permission(self, request: HttpRequest, obj: Degree | None = None) -> bool:
        if obj is not None and obj.exam.kind == Exam.Kind.ONLINE:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Degree | None = None) -> bool:
        if obj is not None and obj.exam.kind == Exam.Kind.ONLINE:
            return False
        return super().has_delete_permission(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "exam":
            exams = Exam.objects.filter(kind=Exam.Kind.PAPER)
            kwargs["queryset"] = exams if self.is_admin(request) else exams.filter(owner=request_user(request))
        if db_field.name == "student":  # a degree belongs to a student: a doctor's or an admin's id is refused
            kwargs["queryset"] = User.objects.filter(role=Role.STUDENT)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Degree, form: Any, change: bool) -> None:
        obj.source, obj.graded_at = Degree.Source.MANUAL, timezone.now()
        super().save_model(request, obj, form, change)

    def get_export_queryset(self, request: HttpRequest) -> QuerySet[Degree]:
        return self.get_queryset(request).select_related("student", "exam")


admin.site.unregister(Exam)

DASHBOARD_STATUS_ACTIONS = {
    # button -> (the status it moves to, its label); through exam_update, as PATCH /api/exams does
    "publish": (Exam.Status.PUBLISHED, "Publish"),
    "close": (Exam.Status.CLOSED, "Close"),
}


@admin.register(Exam)
class GradingExamAdmin(ExamAdmin):
    """The exams app's admin, plus the exam's dashboard: its state and attempts, Publish, Close, Grade now and
    Release (through the same services as the API), its degrees and exports, and its statistics."""

    actions = ["grade_now"]  # ExamAdmin has no actions of its own
    change_form_template = "admin/grading/exam/change_form.html"

    @admin.action(description="Grade now (online exams)")
    def grade_now(self, request: HttpRequest, queryset: QuerySet[Exam]) -> None:
        for exam in queryset:
            self._grade(request, exam)

    def _grade(self, request: HttpRequest, exam: Exam) -> None:
        try:
            job = exam_grade_start(user=request_user(request), exam_id=exam.id)
        except DomainError as refusal:
            self.message_user(request, f"{exam.code}: {refusal.detail}", messages.WARNING)
            return
        url = reverse("admin:jobs_job_change", args=[job.id])
        self.message_user(
            request, format_html('{}: grading queued as <a href="{}">job {}</a>.', exam.code, url, job.id)
        )

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        extra = [
            path("<int:exam_id>/dashboard/<str:action>/", view(self.dashboard_action), name="exams_exam_dashboard"),
            path("<int:exam_id>/degrees.<str:file_format>", view(self.degrees_file), name="exams_exam_degrees_file"),
            path("<int:exam_id>/attempts/", view(self.attempts_view), name="exams_exam_attempts"),
            path("<int:exam_id>/attempts/<str:student_number>/", view(self.appeal_view), name="exams_exam_appeal"),
            path("<int:exam_id>/accommodations/", view(self.accommodations_view), name="exams_exam_accommodations"),
            path("<int:exam_id>/live.json", view(self.live_view), name="exams_exam_live"),
        ]
        return [*extra, *super().get_urls()]

    def _own_exam(self, request: HttpRequest, exam_id: int) -> Exam:
        exam = self.get_queryset(request).filter(pk=exam_id).first()
        if exam is None or not self.has_view_permission(request, exam):
            raise Http404("No such exam.")
        return exam

    def dashboard_action(self, request: HttpRequest, exam_id: int, action: str) -> HttpResponse:
        """The dashboard's buttons (POST): grade, release, publish, close."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        exam = self._own_exam(request, exam_id)
        if not self.has_change_permission(request, exam):
            raise PermissionDenied
        if action == "grade":
            self._grade(request, exam)
        elif action in ("release", *DASHBOARD_STATUS_ACTIONS):
            changes: dict[str, Any] = {"results_released": True}
            if action in DASHBOARD_STATUS_ACTIONS:
                changes = {"status": DASHBOARD_STATUS_ACTIONS[action][0]}
            try:
                exam_update(user=request_user(request), exam_id=exam.id, changes=changes)
            except DomainError as refusal:
                self.message_user(request, f"{exam.code}: {refusal.detail}", messages.ERROR)
            else:
                done = "results released" if action == "release" else f"now {changes['status']}"
                self.message_user(request, f"{exam.code}: {done}.", messages.SUCCESS)
        else:
            raise Http404("No such action.")
        return HttpResponseRedirect(reverse("admin:exams_exam_change", args=[exam.id]))

    def live_view(self, request: HttpRequest, exam_id: int) -> HttpResponse:
        """The dashboard's live figures as JSON, polled by grading/dashboard.js: the attempt counts and the saves per
        minute of the last minutes. Staff only (admin_view), and a doctor's own exams only (404 otherwise)."""
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        exam = self._own_exam(request, exam_id)
        return JsonResponse(live_figures(exam=exam, now=timezone.now()))  # admin_view: never cached

    def degrees_file(self, request: HttpRequest, exam_id: int, file_format: str) -> HttpResponse:
        """The exam's degrees as CSV or XLSX: the same rows and the same renderers as GET /api/exams/{id}/degrees
        (formulas escaped, XLSX cells as text)."""
        renderers = {"csv": CSVRenderer, "xlsx": XLSXRenderer}
        if file_format not in renderers:
            raise Http404("CSV or XLSX only.")
        exam = self._own_exam(request, exam_id)
        rows = degree_rows(exam_id=exam.id)
        table = {"columns": DEGREE_COLUMNS, "rows": ([row[c] for c in DEGREE_COLUMNS] for row in rows)}
        renderer = renderers[file_format]()
        response = HttpResponse(renderer.render(table), content_type=renderer.media_type)
        response["Content-Disposition"] = f'attachment; filename="degrees-{exam.code}.{file_format}"'
        return response

    def attempts_view(self, request: HttpRequest, exam_id: int) -> HttpResponse:
        """Every attempt of the exam, each linking to its appeal page."""
        exam = self._own_exam(request, exam_id)
        attempts = attempt_list(user=request_user(request), exam_id=exam.id)
        context = {**self._page_context(request, exam, "Attempts"), "attempts": attempts}
        return TemplateResponse(request, "admin/grading/exam/attempts.html", context)

    def appeal_view(self, request: HttpRequest, exam_id: int, student_number: str) -> HttpResponse:
        """One attempt, as a doctor settles an appeal: the answers and marks per question, every acknowledged
        save, the degree, and the override and reopen forms (POST), all through the API's own services."""
        exam = self._own_exam(request, exam_id)
        user = request_user(request)
        try:
            attempt = attempt_of_student(user=user, exam_id=exam.id, student_number=student_number)
        except NotFound as missing:
            raise Http404(str(missing.detail)) from missing
        if request.method == "POST":
            if not self.has_change_permission(request, exam):
                raise PermissionDenied
            self._appeal_action(request, exam, student_number)
            return HttpResponseRedirect(request.path)
        questions = attempt_marks(attempt=attempt)
        choice_texts = dict(Choice.objects.filter(question__exam_id=exam.id).values_list("id", "text"))
        for question in questions:
            question["your_texts"] = [choice_texts.get(c, c) for c in question["your_choices"]]
            question["correct_texts"] = [choice_texts.get(c, c) for c in question["correct_choices"]]
        events = attempt_history(user=user, exam_id=exam.id, student_number=student_number)
        context = {
            **self._page_context(request, exam, f"Attempt of {student_number}"),
            "attempt": attempt,
            "questions": questions,
            "events": [(event, [choice_texts.get(c, c) for c in event.choice_ids]) for event in events],
            "degree": Degree.objects.filter(exam_id=exam.id, student_id=attempt.student_id).first(),
            "can_change": self.has_change_permission(request, exam),
        }
        return TemplateResponse(request, "admin/grading/exam/appeal.html", context)

    def _appeal_action(self, request: HttpRequest, exam: Exam, student_number: str) -> None:
        user = request_user(request)
        action, now = request.POST.get("action"), timezone.now()
        try:
            if action == "override":
                marks = Decimal(request.POST.get("marks_obtained", "").strip() or "nan")
                if not marks.is_finite():
                    raise InvalidOperation
                degree_override(
                    user=user,
                    exam_id=exam.id,
                    student_number=student_number,
                    marks_obtained=marks,
                    reason=request.POST.get("reason", ""),
                    now=now,
                )
                self.message_user(request, "Degree overridden.", messages.SUCCESS)
            elif action == "remove_override":
                degree_override_remove(user=user, exam_id=exam.id, student_number=student_number, now=now)
                self.message_user(request, "Override removed; the next grading recomputes this degree.")
            elif action == "reopen":
                minutes = int(request.POST.get("extra_minutes", ""))
                if not 1 <= minutes <= 24 * 60:
                    raise ValueError
                attempt_reopen(
                    user=user,
                    exam_id=exam.id,
                    student_number=student_number,
                    extra_minutes=minutes,
                    reason=request.POST.get("reason", "").strip(),
                    now=now,
                )
                self.message_user(request, f"Attempt reopened for {minutes} minutes.", messages.SUCCESS)
            else:
                raise Http404("No such action.")
        except (InvalidOperation, ValueError):
            self.message_user(request, "Give a number in range.", messages.ERROR)
        except (DomainError, APIException) as refusal:
            self.message_user(request, _refusal_text(refusal), messages.ERROR)

    def accommodations_view(self, request: HttpRequest, exam_id: int) -> HttpResponse:
        """The exam's accommodations, and the forms (POST) that set or remove one, through the same services as
        the API (the running attempt's deadline moves at once; each change is audited)."""
        exam = self._own_exam(request, exam_id)
        user = request_user(request)
        if request.method == "POST":
            if not self.has_change_permission(request, exam):
                raise PermissionDenied
            self._accommodation_action(request, exam)
            return HttpResponseRedirect(request.path)
        rows = [
            (accommodation, closes_at_for(exam=exam, accommodation=accommodation))
            for accommodation in accommodation_list(user=user, exam_id=exam.id)
        ]
        context = {
            **self._page_context(request, exam, "Accommodations"),
            "rows": rows,
            "form": AccommodationForm(),
            "can_change": self.has_change_permission(request, exam),
        }
        return TemplateResponse(request, "admin/grading/exam/accommodations.html", context)

    def _accommodation_action(self, request: HttpRequest, exam: Exam) -> None:
        user = request_user(request)
        action, now = request.POST.get("action"), timezone.now()
        try:
            if action == "set":
                form = AccommodationForm(request.POST)
                if not form.is_valid():
                    reasons = " ".join(str(e) for errors in form.errors.values() for e in errors)
                    self.message_user(request, f"Not set: {reasons}", messages.ERROR)
                    return
                number = form.cleaned_data["student_number"]
                accommodation_set(
                    user=user,
                    exam_id=exam.id,
                    student_number=number,
                    extra_minutes=form.cleaned_data["extra_minutes"],
                    closes_at=form.cleaned_data["closes_at"],
                    now=now,
                )
                self.message_user(request, f"Accommodation of {number} set.", messages.SUCCESS)
            elif action == "remove":
                number = request.POST.get("student_number", "").strip()
                accommodation_remove(user=user, exam_id=exam.id, student_number=number, now=now)
                self.message_user(request, f"Accommodation of {number} removed.", messages.SUCCESS)
            else:
                raise Http404("No such action.")
        except (DomainError, APIException) as refusal:
            self.message_user(request, _refusal_text(refusal), messages.ERROR)

    def _page_context(self, request: HttpRequest, exam: Exam, title: str) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "title": f"{exam.code}: {title}",
            "exam": exam,
            "opts": self.opts,
            "exam_url": reverse("admin:exams_exam_change", args=[exam.id]),
        }

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        exam = self.get_queryset(request).filter(pk=object_id).first() if object_id.isdigit() else None
        if exam is not None and request.method == "GET":
            extra_context["dashboard"] = dashboard_context(exam=exam, now=timezone.now())
            extra_context["grading"] = grading_context(exam=exam)
        return super().change_view(request, object_id, form_url, extra_context)


class AccommodationForm(forms.Form):
    """The accommodations page's "set" form: the bounds of PUT /api/exams/{id}/accommodations/{number}."""

    student_number = forms.CharField(max_length=64)
    extra_minutes = forms.IntegerField(min_value=0, max_value=7 * 24 * 60)
    closes_at = forms.DateTimeField(
        required=False,
        label="Closes at for them (optional)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


def _refusal_text(refusal: Exception) -> str:
    """A refused service call as one sentence for the admin's message, the fields' reasons included."""
    detail = getattr(refusal, "detail", refusal)
    fields = getattr(refusal, "fields", None) or {}
    reasons = " ".join(str(reason) for messages_ in fields.values() for reason in messages_)
    return f"{detail} {reasons}".strip()


# The dashboard shows this many minutes of saves, and its page asks for fresh figures this often.
SAVES_MINUTES, LIVE_POLL_SECONDS = 10, 5


def live_figures(*, exam: Exam, now: Any) -> dict[str, Any]:
    """The dashboard's figures that move during an exam: the attempt counts, and the acknowledged saves in each of
    the last SAVES_MINUTES minutes (core.exams.save_rate; the current minute, still filling, last), each minute
    with its label in the configured time zone."""
    minutes = save_rate_read(exam_id=exam.id, now=now, minutes=SAVES_MINUTES)
    peak = max((count for _, count in minutes), default=0)
    return {
        "server_time": now.isoformat(),
        "attempts": attempt_counts(exam=exam, now=now),
        "saves_per_minute": [
            {"minute": start.isoformat(), "label": timezone.localtime(start).strftime("%H:%M"), "saves": count}
            for start, count in minutes
        ],
        "saves_peak": peak,
    }


# The saves chart's drawing (SVG user units; grading/dashboard.js draws the same from live.json).
SAVES_WIDTH, SAVES_HEIGHT, SAVES_LABEL = 400, 120, 14


def saves_bars(*, minutes: list[dict[str, Any]], peak: int) -> list[dict[str, Any]]:
    """One bar per minute: its height in proportion to the busiest minute shown, its count above, its time below."""
    slot = SAVES_WIDTH // max(len(minutes), 1)
    room = SAVES_HEIGHT - 2 * SAVES_LABEL
    bars = []
    for i, minute in enumerate(minutes):
        height = round(room * minute["saves"] / peak) if peak else 0
        y = SAVES_HEIGHT - SAVES_LABEL - height
        bars.append(
            {
                **minute,
                "x": i * slot + 3,
                "width": slot - 6,
                "y": y,
                "height": height,
                "text_x": i * slot + slot // 2,
                "count_y": y - 3,
                "label_y": SAVES_HEIGHT - 3,
            }
        )
    return bars


def dashboard_context(*, exam: Exam, now: Any) -> dict[str, Any]:
    """What the exam's page shows above its form: the state, the attempts, the saves per minute (refreshed by
    grading/dashboard.js from live_view), and the buttons that apply."""
    live = live_figures(exam=exam, now=now)
    counts = live["attempts"]
    status_buttons = []
    if exam.status == Exam.Status.DRAFT:
        status_buttons.append(("publish", DASHBOARD_STATUS_ACTIONS["publish"][1]))
    if exam.status == Exam.Status.PUBLISHED:
        status_buttons.append(("close", DASHBOARD_STATUS_ACTIONS["close"][1]))
    return {
        "counts": counts,
        "saves_bars": saves_bars(minutes=live["saves_per_minute"], peak=live["saves_peak"]),
        "saves_chart": {"width": SAVES_WIDTH, "height": SAVES_HEIGHT},
        "saves_total": sum(minute["saves"] for minute in live["saves_per_minute"]),
        "saves_minutes": SAVES_MINUTES,
        "live_url": reverse("admin:exams_exam_live", args=[exam.id]),
        "live_poll_seconds": LIVE_POLL_SECONDS,
        "open_now": exam.is_open_at(now),
        "status_buttons": status_buttons,
        "can_grade": exam.kind == Exam.Kind.ONLINE and exam.status != Exam.Status.DRAFT,
        "can_release": not exam.results_released and exam.status != Exam.Status.DRAFT,
        "degrees_url": reverse("admin:grading_degree_changelist") + f"?exam__id__exact={exam.id}",
        "csv_url": reverse("admin:exams_exam_degrees_file", args=[exam.id, "csv"]),
        "xlsx_url": reverse("admin:exams_exam_degrees_file", args=[exam.id, "xlsx"]),
        "attempts_url": reverse("admin:exams_exam_attempts", args=[exam.id]),
        "accommodations_url": reverse("admin:exams_exam_accommodations", args=[exam.id]),
        "preview_url": reverse("admin:exams_exam_preview", args=[exam.id]),
        "jobs_url": reverse("admin:jobs_job_changelist"),
        "grade_url": reverse("admin:exams_exam_dashboard", args=[exam.id, "grade"]),
        "release_url": reverse("admin:exams_exam_dashboard", args=[exam.id, "release"]),
        "status_urls": [
            (reverse("admin:exams_exam_dashboard", args=[exam.id, action]), label) for action, label in status_buttons
        ],
    }


# The histogram's drawing (SVG user units); the page scales it.
CHART_WIDTH, CHART_HEIGHT, CHART_LABEL = 400, 150, 16


def grading_context(*, exam: Exam) -> dict[str, Any]:
    """The statistics of exam_stats (the one function behind GET /api/exams/{id}/stats), drawn: the summary, the
    histogram as SVG, and per question Moodle's facility and discrimination indices and each choice's picks."""
    stats = exam_stats(exam=exam)
    counts = stats["histogram"]
    tallest = max(counts) or 1
    width = 100 // HISTOGRAM_BINS
    slot = CHART_WIDTH // HISTOGRAM_BINS
    bins = []
    for i, count in enumerate(counts):
        height = round((CHART_HEIGHT - CHART_LABEL) * count / tallest)
        bins.append(
            {
                "label": f"{i * width}-{(i + 1) * width}",
                "count": count,
                "x": i * slot + 2,
                "width": slot - 4,
                "height": height,
                "y": CHART_HEIGHT - CHART_LABEL - height,
                "text_x": i * slot + slot // 2,
            }
        )
    questions = {q.id: q for q in exam.questions.prefetch_related("choices")}
    items = []
    for number, figures in enumerate(stats["questions"], start=1):
        question = questions.get(figures["id"])
        if question is None:
            continue
        picks = {c["id"]: c["picked"] for c in figures["choices"]}
        most = max(picks.values(), default=0) or 1
        items.append(
            {
                **figures,
                "number": number,
                "text": question.text,
                "choices": [
                    {"text": c.text, "is_correct": c.is_correct, "picked": picks.get(c.id, 0), "max": most}
                    for c in question.choices.all()
                ],
            }
        )
    return {
        "summary": {name: stats[name] for name in ("count", "mean", "stddev", "min", "max", "p25", "p50", "p75")},
        "bins": bins,
        "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT, "label_y": CHART_HEIGHT - 4},
        "items": items,
    }
