"""OpenAPI: the exam's status and kind are named enum components of their own (ExamStatus, ExamKind),
because other apps have `status` and `kind` fields too and spectacular's automatic enum names collide."""

from __future__ import annotations

from typing import Any

from django.db.models import TextChoices
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers

from core.exams.models import Exam, Question


class _NamedChoiceField(serializers.ChoiceField):
    component_name = ""
    choices_class: type[TextChoices]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=self.choices_class.choices, **kwargs)


class ExamStatusField(_NamedChoiceField):
    component_name, choices_class = "ExamStatus", Exam.Status


class ExamKindField(_NamedChoiceField):
    component_name, choices_class = "ExamKind", Exam.Kind


class ExamReviewField(_NamedChoiceField):
    component_name, choices_class = "ExamReview", Exam.Review


class QuestionScoringField(_NamedChoiceField):
    component_name, choices_class = "QuestionScoring", Question.Scoring


class NamedChoiceFieldExtension(OpenApiSerializerFieldExtension):
    target_class = _NamedChoiceField
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        field = self.target
        component = ResolvedComponent(
            name=field.component_name,
            type=ResolvedComponent.SCHEMA,
            object=field.component_name,
            schema={"type": "string", "enum": [value for value, _ in field.choices_class.choices]},
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref
