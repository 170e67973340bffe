"""Doctors write exams here. A doctor sees and edits only their own exams; an admin sees all.

Every save goes through the model signals in `receivers.py`, which drop the cached answer key at once.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from core.accounts.models import Role, Subject, User
from core.common.admin import RoleScopedAdmin
from core.exams.models import Attempt, Choice, Exam, Question

DOCTOR_CAN = frozenset({"view", "add", "change", "delete"})


def _is_admin(request: HttpRequest) -> bool:
    return RoleScopedAdmin.is_admin(request)


def _may_edit_exams(request: HttpRequest) -> bool:
    return _is_admin(request) or RoleScopedAdmin.is_doctor(request)


class _RoleScopedInline:
    """Inlines follow their parent's role rules rather than Django's model permissions."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_edit_exams(request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_edit_exams(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_edit_exams(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_edit_exams(request)


class ChoiceFormSet(forms.BaseInlineFormSet):
    """Two or more choices, at least one correct; none added or removed once students have started."""

    def clean(self) -> None:
        super().clean()
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if len(kept) < 2:
            raise ValidationError("A question needs two or more choices.")
        if not any(f.cleaned_data.get("is_correct") for f in kept):
            raise ValidationError("A question needs at least one correct choice.")
        question = self.instance
        if question.pk and Attempt.objects.filter(exam_id=question.exam_id).exists():
            added = any(f.instance.pk is None and f.has_changed() for f in kept)
            removed = any(f.cleaned_data.get("DELETE") and f.instance.pk for f in self.forms if f.cleaned_data)
            if added or removed:
                raise ValidationError(
                    "Students have started this exam: choices can be corrected, not added or removed."
                )


class QuestionFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        exam = self.instance
        if exam.pk and Attempt.objects.filter(exam_id=exam.pk).exists():
            added = any(f.instance.pk is None and f.has_changed() for f in self.forms if f.cleaned_data)
            removed = any(f.cleaned_data.get("DELETE") and f.instance.pk for f in self.forms if f.cleaned_data)
            if added or removed:
                raise ValidationError(
                    "Students have started this exam: questions can be corrected, not added or removed."
                )


class ChoiceInline(_RoleScopedInline, admin.TabularInline):
    model = Choice
    formset = ChoiceFormSet
    fields = ("text", "is_correct", "position")
    extra = 0
    min_num = 2


class QuestionInline(_RoleScopedInline, admin.TabularInline):
    """The exam's questions; each links to its own page, where its choices are edited."""

    model = Question
    formset = QuestionFormSet
    fields = ("text", "points", "position", "choices_link")
    readonly_fields = ("choices_link",)
    extra = 0
    show_change_link = True

    @admin.display(description="choices")
    def choices_link(self, question: Question) -> str:
        if not question.pk:
            return "save first, then add choices"
        url = reverse("admin:exams_question_change", args=[question.pk])
        count = question.choices.count()
        return format_html('<a href="{}">{} choice{}</a>', url, count, "" if count == 1 else "s")


class ExamAdminForm(forms.ModelForm):
    class Meta:
        model = Exam
        fields = (
            "code",
            "title",
            "subject",
            "level",
            "owner",
            "kind",
            "opens_at",
            "closes_at",
            "duration_minutes",
            "grace_seconds",
            "status",
            "results_released",
        )

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        if "/" in code:
            raise ValidationError("An exam code may not contain '/'.")
        return code

    def clean_status(self) -> str:
        status = self.cleaned_data["status"]
        if self.instance.pk:
            order = [str(s) for s in Exam.STATUS_ORDER]
            if order.index(status) < order.index(self.instance.status):
                raise ValidationError(f"The status only moves forward; it cannot go back to {status}.")
        return status

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        opens_at, closes_at = data.get("opens_at"), data.get("closes_at")
        if opens_at and closes_at and closes_at <= opens_at:
            self.add_error("closes_at", "The exam must close after it opens.")
        return data


@admin.register(Exam)
class ExamAdmin(RoleScopedAdmin):
    doctor_can = DOCTOR_CAN
    form = ExamAdminForm
    list_display = ("code", "title", "subject", "level", "kind", "status", "opens_at", "closes_at", "results_released")
    list_filter = ("status", "kind", "level", "subject")
    search_fields = ("code", "title")
    inlines = [QuestionInline]
    fieldsets = (
        (None, {"fields": ("code", "title", "subject", "level", "owner", "kind")}),
        ("Window", {"fields": ("opens_at", "closes_at", "duration_minutes", "grace_seconds")}),
        ("State", {"fields": ("status", "results_released")}),
    )

    def doctor_queryset(self, request: HttpRequest, queryset: QuerySet[Exam]) -> QuerySet[Exam]:
        return queryset.filter(owner_id=request.user.pk)

    def get_readonly_fields(self, request: HttpRequest, obj: Exam | None = None) -> tuple[str, ...]:
        return () if self.is_admin(request) else ("owner",)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "subject" and not self.is_admin(request):
            kwargs["queryset"] = Subject.objects.filter(doctors__id=cast(int, request.user.pk))
        if db_field.name == "owner":
            kwargs["queryset"] = User.objects.filter(role__in=[Role.DOCTOR, Role.ADMIN])
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Exam, form: Any, change: bool) -> None:
        if obj.owner_id is None and not self.is_admin(request):
            obj.owner_id = request.user.pk
        super().save_model(request, obj, form, change)


@admin.register(Question)
class QuestionAdmin(RoleScopedAdmin):
    doctor_can = DOCTOR_CAN
    list_display = ("text", "exam", "points", "position")
    list_select_related = ("exam",)
    list_filter = ("exam__subject",)
    search_fields = ("text", "exam__code")
    fields = ("exam", "text", "image", "points", "position")
    inlines = [ChoiceInline]

    def doctor_queryset(self, request: HttpRequest, queryset: QuerySet[Question]) -> QuerySet[Question]:
        return queryset.filter(exam__owner_id=request.user.pk)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "exam" and not self.is_admin(request):
            kwargs["queryset"] = Exam.objects.filter(owner_id=request.user.pk)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_module_permission(self, request: HttpRequest) -> bool:
        # Reached from an exam's page; not a menu entry of its own.
        return False
