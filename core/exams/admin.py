"""Doctors write exams here: the exam, its questions and each question's choices on one page (nested inlines,
django-nested-admin), numbered and reordered by dragging. A doctor sees and edits only their own exams; an admin
sees all.

Nothing that the API refuses can be saved here: before anything is written, the page's exam and questions are put
through the same services as PATCH /api/exams (exam_create / exam_update) in a savepoint that is then rolled back,
and every refusal is shown on the page. Then the admin saves as usual; the model signals in `receivers.py` drop
the cached answer key at once. See docs/decisions/0015-admin-through-services.md."""

from __future__ import annotations

from typing import Any, cast

import nested_admin
from django import forms
from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from core.accounts.models import Role, User
from core.accounts.selectors import levels_visible_to, subjects_visible_to
from core.accounts.services import level_get_or_create, subject_for_writer
from core.audit.models import AuditRecord
from core.audit.services import audit_record
from core.common.admin import RoleScopedAdmin
from core.common.errors import DomainError
from core.exams import services
from core.exams.models import Choice, Exam, Question

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


class NamedChoiceWidget(forms.TextInput):
    """A text box with suggestions (<datalist>): levels and subjects are named, as in the API, so a doctor can
    also name a new one."""

    template_name = "admin/exams/widgets/named_choice.html"

    def __init__(self, *, list_id: str) -> None:
        super().__init__(attrs={"list": list_id, "autocomplete": "off", "class": "vTextField"})
        self.list_id = list_id
        self.suggestions: list[str] = []

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["widget"].update(list_id=self.list_id, suggestions=self.suggestions)
        return context


class ExamAdminForm(forms.ModelForm):
    """The exam's own fields. `subject` and `level` are names, as in POST /api/exams: a new name creates it."""

    subject = forms.CharField(
        max_length=100,
        widget=NamedChoiceWidget(list_id="exam-subjects"),
        help_text="One of your subjects, or a new name (you then teach it). An admin assigns existing subjects.",
    )
    level = forms.CharField(
        max_length=100,
        required=False,
        widget=NamedChoiceWidget(list_id="exam-levels"),
        help_text="The cohort that takes this exam, such as Year 1; a new name creates it.",
    )

    class Meta:
        model = Exam
        fields = (
            "code",
            "title",
            "owner",
            "kind",
            "opens_at",
            "closes_at",
            "duration_minutes",
            "grace_seconds",
            "status",
            "results_released",
            "shuffle_questions",
            "shuffle_choices",
            "questions_per_attempt",
            "review",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        exam = self.instance
        if exam.pk:
            self.initial["subject"] = exam.subject.name
            self.initial["level"] = exam.level.name if exam.level_id else ""
        exam._admin_form = self  # read by QuestionFormSet's whole-exam check

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        if "/" in code:
            raise ValidationError("An exam code may not contain '/'.")
        return code

    def clean_subject(self) -> str:
        return self.cleaned_data["subject"].strip()

    def clean_level(self) -> str:
        return self.cleaned_data["level"].strip()


def _formset_rows(formset: forms.BaseFormSet[forms.ModelForm]) -> list[forms.ModelForm]:
    """The forms that stay: filled in and not marked for deletion, in their position order."""
    kept = [
        form
        for form in formset.forms
        if getattr(form, "cleaned_data", None)
        and not form.cleaned_data.get("DELETE")
        and (form.instance.pk or form.has_changed())
    ]
    return sorted(kept, key=lambda form: form.cleaned_data.get("position") or 0)


def questions_from_formset(formset: forms.BaseFormSet) -> list[services.QuestionIn]:
    """The page's questions as the exams services take them (ids for the ones that exist)."""
    questions: list[services.QuestionIn] = []
    for form in _formset_rows(formset):
        choices: list[services.ChoiceIn] = []
        for nested in getattr(form, "nested_formsets", []):
            for choice_form in _formset_rows(nested):
                choice: services.ChoiceIn = {
                    "text": choice_form.cleaned_data.get("text") or "",
                    "is_correct": bool(choice_form.cleaned_data.get("is_correct")),
                }
                if choice_form.instance.pk:
                    choice["id"] = choice_form.instance.pk
                choices.append(choice)
        question: services.QuestionIn = {
            "text": form.cleaned_data.get("text") or "",
            "points": form.cleaned_data.get("points") or 1,
            "choices": choices,
        }
        if form.cleaned_data.get("scoring"):
            question["scoring"] = form.cleaned_data["scoring"]
        if form.instance.pk:
            question["id"] = form.instance.pk
        questions.append(question)
    return questions


class _DryRun(Exception):
    """Raised to roll back the services' savepoint once they have accepted the page."""


def exam_page_check(
    *, user: User, exam: Exam, form: forms.ModelForm, questions: list[services.QuestionIn]
) -> list[tuple[str, dict[str, Any]]]:
    """Put the page through the services that the API uses, in a savepoint that is always rolled back. Raises the
    services' DomainError (422, 409, 404) when they refuse it, so the admin refuses exactly what the API does.
    Returns the audit records (action, detail) that the services wrote, for the admin's own save to write again."""
    data = form.cleaned_data
    trace: list[tuple[str, dict[str, Any]]] = []
    first_new = (AuditRecord.objects.aggregate(last=Max("id"))["last"] or 0) + 1
    try:
        with transaction.atomic():
            if exam.pk is None:
                created = services.exam_create(
                    user=user,
                    code=data["code"],
                    title=data["title"],
                    subject=data["subject"],
                    level=data["level"] or "-",  # the API requires a level; the admin may leave it out
                    kind=data["kind"],
                    opens_at=data.get("opens_at"),
                    closes_at=data.get("closes_at"),
                    duration_minutes=data["duration_minutes"],
                    grace_seconds=data["grace_seconds"],
                    questions=questions,
                    shuffle_questions=data.get("shuffle_questions", False),
                    shuffle_choices=data.get("shuffle_choices", False),
                    questions_per_attempt=data.get("questions_per_attempt"),
                    review=data.get("review") or Exam.Review.SCORE,
                )
                exam_id, changes = created.pk, {"status": data["status"], "results_released": data["results_released"]}
            else:
                stored = Exam.objects.select_related("subject", "level").get(pk=exam.pk)
                changes = {name: data[name] for name in form.changed_data if name in data}
                changes.pop("owner", None)
                if data["subject"] == stored.subject.name:
                    changes.pop("subject", None)  # an exam may stay in a subject its owner does not teach (Markr's)
                if not data["level"]:
                    changes.pop("level", None)
                changes["questions"] = questions
                exam_id = stored.pk
            services.exam_update(user=user, exam_id=exam_id, changes=changes)
            records = AuditRecord.objects.filter(id__gte=first_new, exam_id=exam_id).order_by("id")
            trace = [(record.action, record.detail) for record in records]
            raise _DryRun
    except _DryRun:
        return trace


def _refusal_messages(refusal: DomainError) -> list[str]:
    messages = [refusal.detail]
    for field, problems in (refusal.fields or {}).items():
        where = field
        if field.startswith("questions["):  # questions[0].choices -> question 1
            index = field[len("questions[") : field.index("]")]
            where = f"question {int(index) + 1}" if index.isdigit() else field
        messages.extend(f"{where}: {problem}" for problem in problems)
    return messages


class NumberedFormSet(nested_admin.NestedInlineFormSet):
    """Rows keep the order they were dragged into; a row added without a position goes last. nested_admin then
    numbers the positions 0, 1, 2... when it saves."""

    def clean(self) -> None:
        super().clean()
        rows = [form for form in self.forms if getattr(form, "cleaned_data", None)]
        numbered = [form.cleaned_data["position"] for form in rows if form.cleaned_data.get("position") is not None]
        after = max(numbered, default=-1)
        for form in rows:
            if form.cleaned_data.get("position") is None:
                after += 1
                form.cleaned_data["position"] = after
                form.instance.position = after


class QuestionFormSet(NumberedFormSet):
    """Checks the whole page (the exam and every question with its choices) through the exams services."""

    def __init__(self, *args: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
        self.request = request
        super().__init__(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        exam_form = getattr(self.instance, "_admin_form", None)
        if self.request is None or exam_form is None or not exam_form.is_valid():
            return  # the exam's own errors are shown first
        for form in self.forms:
            for nested in getattr(form, "nested_formsets", []):
                if not nested.is_valid():
                    return  # a choice's own error is shown on it
        user = cast(User, self.request.user)
        try:
            trace = exam_page_check(
                user=user, exam=self.instance, form=exam_form, questions=questions_from_formset(self)
            )
        except DomainError as refusal:
            raise ValidationError(_refusal_messages(refusal)) from refusal
        self.instance._audit_trace = trace  # written again by ExamAdmin.save_related


class ChoiceInline(_RoleScopedInline, nested_admin.NestedTabularInline):
    model = Choice
    formset = NumberedFormSet
    fields = ("text", "is_correct", "position")
    sortable_field_name = "position"
    extra = 0
    formfield_overrides: dict[Any, Any] = {}

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "position":
            kwargs.update(widget=forms.HiddenInput, required=False)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class QuestionInline(_RoleScopedInline, nested_admin.NestedStackedInline):
    """The exam's questions, each with its choices inline; drag a question or a choice to reorder."""

    model = Question
    formset = QuestionFormSet
    fields = ("text", ("points", "scoring", "image"), "image_preview", "position")
    readonly_fields = ("image_preview",)
    sortable_field_name = "position"
    inlines = [ChoiceInline]
    extra = 0

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "position":
            kwargs.update(widget=forms.HiddenInput, required=False)
        if db_field.name == "text":
            kwargs["widget"] = forms.Textarea(attrs={"rows": 2, "class": "vLargeTextField"})
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description="image as students see it")
    def image_preview(self, question: Question) -> str:
        if not question.pk or not question.image:
            return "no image"
        url = question.image.url
        return format_html('<img class="exam-question-image" src="{}" alt="The image of this question">', url)


@admin.register(Exam)
class ExamAdmin(RoleScopedAdmin, nested_admin.NestedModelAdmin):
    doctor_can = DOCTOR_CAN
    form = ExamAdminForm
    list_display = ("code", "title", "subject", "level", "kind", "status", "opens_at", "closes_at", "results_released")
    list_filter = ("status", "kind")
    list_select_related = ("subject", "level")
    search_fields = ("code", "title")
    inlines = [QuestionInline]
    fieldsets = (
        (None, {"fields": ("code", "title", "subject", "level", "owner", "kind")}),
        ("Window", {"fields": ("opens_at", "closes_at", "duration_minutes", "grace_seconds")}),
        ("Each attempt", {"fields": ("shuffle_questions", "shuffle_choices", "questions_per_attempt", "review")}),
        ("State", {"fields": ("status", "results_released")}),
    )

    class Media:
        css = {"all": ("exams/admin.css",)}

    def doctor_queryset(self, request: HttpRequest, queryset: QuerySet[Exam]) -> QuerySet[Exam]:
        return queryset.filter(owner_id=request.user.pk)

    def get_readonly_fields(self, request: HttpRequest, obj: Exam | None = None) -> tuple[str, ...]:
        return () if self.is_admin(request) else ("owner",)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        # subject and level are the form's own name fields, set on the exam in save_model, not model fields
        named = ("subject", "level")
        fields = kwargs.get("fields") or flatten_fieldsets(self.get_fieldsets(request, obj))
        kwargs["fields"] = [name for name in fields if name not in named]
        form = super().get_form(request, obj, change=change, **kwargs)
        user = cast(User, request.user)
        subjects = list(subjects_visible_to(user=user).values_list("name", flat=True))
        levels = list(levels_visible_to(user=user).values_list("name", flat=True))
        form.base_fields["subject"].widget.suggestions = subjects
        form.base_fields["level"].widget.suggestions = levels
        return form

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "owner":
            kwargs["queryset"] = User.objects.filter(role__in=[Role.DOCTOR, Role.ADMIN])
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_formset_kwargs(self, request: HttpRequest, obj: Any, inline: Any, prefix: str) -> dict[str, Any]:
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, QuestionInline):
            kwargs["request"] = request
        return kwargs

    def save_model(self, request: HttpRequest, obj: Exam, form: Any, change: bool) -> None:
        user = cast(User, request.user)
        if obj.owner_id is None and not self.is_admin(request):
            obj.owner_id = user.pk
        name = form.cleaned_data["subject"]
        if not change or obj.subject.name != name:
            obj.subject = subject_for_writer(user=user, name=name)  # the page check has let this through
        level = form.cleaned_data["level"]
        obj.level = level_get_or_create(name=level) if level else None
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Save the questions and choices, then leave the trace that the services left on the checked page (key
        corrections, ...), so that an admin edit is recorded as an API edit is (docs/product.md rule 11)."""
        super().save_related(request, form, formsets, change)
        exam = form.instance
        for action, detail in getattr(exam, "_audit_trace", []):
            audit_record(actor=cast(User, request.user), action=action, exam=exam, detail={**detail, "via": "admin"})

    # --- preview as a student ---------------------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        preview = path(
            "<int:exam_id>/preview/",
            self.admin_site.admin_view(self.preview_view),
            name="exams_exam_preview",
        )
        return [preview, *super().get_urls()]

    def preview_view(self, request: HttpRequest, exam_id: int) -> HttpResponse:
        """The exam as a student sees it (the student API's own serializer, so no correct flag), without an attempt."""
        from core.exams.apis import StudentQuestionSerializer

        exam = self.get_queryset(request).filter(pk=exam_id).first()
        if exam is None or not self.has_view_permission(request, exam):
            raise Http404("No such exam.")
        questions = exam.questions.prefetch_related("choices")
        shown = StudentQuestionSerializer(questions, many=True).data
        correct_counts = {q.pk: sum(c.is_correct for c in q.choices.all()) for q in questions}
        for question in shown:
            question.setdefault("multiple", correct_counts.get(question["id"], 0) > 1)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview: {exam.title}",
            "exam": exam,
            "questions": shown,
            "opts": self.opts,
            "now": timezone.now(),
            "change_url": reverse("admin:exams_exam_change", args=[exam.pk]),
        }
        return TemplateResponse(request, "admin/exams/exam/preview.html", context)
