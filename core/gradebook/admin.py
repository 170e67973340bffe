from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from core.common.admin import RoleScopedImportExportAdmin
from core.gradebook.models import SubjectGrade
from core.gradebook.resources import SubjectGradeResource


@admin.register(SubjectGrade)
class SubjectGradeAdmin(RoleScopedImportExportAdmin):
    """Course grades. A doctor sees, edits, imports and exports the grades of the subjects they teach."""

    doctor_can = frozenset({"view", "add", "change", "delete"})
    resource_classes = [SubjectGradeResource]
    list_display = ("student_number", "student_name", "subject", "grade", "updated_at")
    list_filter = (("subject", admin.RelatedOnlyFieldListFilter),)  # only the subjects of the grades listed
    search_fields = ("student__student_number",)
    list_select_related = ("student", "subject")
    raw_id_fields = ("student",)
    ordering = ("subject__name", "student__student_number")

    @admin.display(ordering="student__student_number", description="student number")
    def student_number(self, grade: SubjectGrade) -> str:
        return grade.student.student_number or ""

    @admin.display(ordering="student__full_name", description="name")
    def student_name(self, grade: SubjectGrade) -> str:
        return grade.student.full_name

    def doctor_queryset(self, request: HttpRequest, queryset: QuerySet[SubjectGrade]) -> QuerySet[SubjectGrade]:
        return queryset.filter(subject__doctors=request.user.pk)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "subject" and not self.is_admin(request):
            kwargs["queryset"] = db_field.remote_field.model.objects.filter(doctors=request.user.pk)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_export_queryset(self, request: HttpRequest) -> QuerySet[SubjectGrade]:
        return self.get_queryset(request).select_related("student", "subject")
