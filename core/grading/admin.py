"""Degrees in the admin (CSV/XLSX import and export), and the exam admin with grading on top.

The exam admin belongs to core.exams, which may not import grading (layers point down). So this module
replaces the registered ExamAdmin with a subclass that adds the "Grade now" action and a histogram on the
exam's page: docs/decisions/0002-grading-admin-extends-exam-admin.md."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from core.common.admin import RoleScopedImportExportAdmin
from core.common.errors import DomainError
from core.exams.admin import ExamAdmin
from core.exams.models import Exam
from core.grading.models import Degree
from core.grading.resources import DegreeResource
from core.grading.selectors import HISTOGRAM_BINS, histogram, stats_summary
from core.grading.services import exam_grade_start


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
        return queryset.filter(exam__owner=request.user)

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
            kwargs["queryset"] = exams if self.is_admin(request) else exams.filter(owner=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Degree, form: Any, change: bool) -> None:
        obj.source, obj.graded_at = Degree.Source.MANUAL, timezone.now()
        super().save_model(request, obj, form, change)

    def get_export_queryset(self, request: HttpRequest) -> QuerySet[Degree]:
        return self.get_queryset(request).select_related("student", "exam")


admin.site.unregister(Exam)


@admin.register(Exam)
class GradingExamAdmin(ExamAdmin):
    """The exams app's admin, plus "Grade now" and the histogram of the degrees on the exam's page."""

    actions = [*(ExamAdmin.actions or []), "grade_now"]
    change_form_template = "admin/grading/exam/change_form.html"

    @admin.action(description="Grade now (online exams)")
    def grade_now(self, request: HttpRequest, queryset: QuerySet[Exam]) -> None:
        for exam in queryset:
            try:
                job = exam_grade_start(user=request.user, exam_id=exam.id)
            except DomainError as refusal:
                self.message_user(request, f"{exam.code}: {refusal.detail}", messages.WARNING)
                continue
            url = reverse("admin:jobs_job_change", args=[job.id])
            self.message_user(
                request, format_html('{}: grading queued as <a href="{}">job {}</a>.', exam.code, url, job.id)
            )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        exam = self.get_queryset(request).filter(pk=object_id).first() if object_id.isdigit() else None
        if exam is not None:
            extra_context["grading"] = grading_context(exam_id=exam.id)
        return super().change_view(request, object_id, form_url, extra_context)


def grading_context(*, exam_id: int) -> dict[str, Any]:
    counts = histogram(exam_id=exam_id)
    tallest = max(counts) or 1
    width = 100 // HISTOGRAM_BINS
    bins = [
        {
            "label": f"{i * width}-{(i + 1) * width}",
            "count": count,
            "height": round(100 * count / tallest),
        }
        for i, count in enumerate(counts)
    ]
    return {"summary": stats_summary(exam_id=exam_id), "bins": bins}
