"""What an exam office does to a running exam (owner or admin): accommodations, the attempts and their save
history, and reopening an attempt after an incident. Views parse, call one service or selector, serialise."""

from __future__ import annotations

from typing import cast

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.accounts.authentication import request_user
from core.common.fields import StrictCharField
from core.common.pagination import PageNumberPagination, page_of
from core.common.parsers import BoundedJSONParser
from core.common.permissions import IsDoctorOrAdmin
from core.exams import accommodations, selectors
from core.exams.models import Attempt

ErrorSerializer = inline_serializer(
    "OfficeError",
    {
        "error": serializers.CharField(),
        "detail": serializers.CharField(),
        "fields": serializers.DictField(required=False),
    },
)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


_NO_EXAM = "`not_found`: no such exam that you manage"
_STAFF_ERRORS = {401: _error("Not authenticated."), 403: _error("`forbidden`: not a doctor or an admin.")}


class _OfficeApi(APIView):
    permission_classes = [IsDoctorOrAdmin]
    parser_classes = [BoundedJSONParser]


# --- accommodations --------------------------------------------------------------------------


class AccommodationSerializer(serializers.Serializer):
    student_number = serializers.CharField(source="student.student_number")
    extra_minutes = serializers.IntegerField()
    closes_at = serializers.DateTimeField(
        allow_null=True, help_text="The student's own closing time; null: the exam's closes_at + extra_minutes."
    )


class AccommodationsApi(_OfficeApi):
    @extend_schema(
        responses={200: page_of(AccommodationSerializer), 404: _error(_NO_EXAM + "."), **_STAFF_ERRORS},
        description="The exam's accommodations, by student number.",
    )
    def get(self, request: Request, exam_id: int) -> Response:
        found = accommodations.accommodation_list(user=request_user(request), exam_id=exam_id)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(found, request, view=self)
        return paginator.get_paginated_response(AccommodationSerializer(page, many=True).data)


class AccommodationApi(_OfficeApi):
    class InputSerializer(serializers.Serializer):
        extra_minutes = serializers.IntegerField(min_value=0, max_value=7 * 24 * 60)
        closes_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: AccommodationSerializer,
            400: _error("`validation_error`: a field is missing or out of range."),
            404: _error(_NO_EXAM + ", or no such student in the exam's level."),
            409: _error("`results_released`: the results are out; withdraw the release first."),
            422: _error("`validation_error`: closes_at is before the exam's closes_at."),
            **_STAFF_ERRORS,
        },
        description="Give one student extra time. Their deadline becomes min(started_at + duration + extra_minutes, "
        "closes_at for them), where closes_at for them is the given closes_at, or else the exam's closes_at + "
        "extra_minutes. It applies to a running attempt at once (a save sees it within a second), and lets the "
        "student start until their own closes_at. Taking time away never ends a running attempt before now.",
    )
    def put(self, request: Request, exam_id: int, student_number: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        accommodation = accommodations.accommodation_set(
            user=request_user(request),
            exam_id=exam_id,
            student_number=student_number,
            extra_minutes=data.validated_data["extra_minutes"],
            closes_at=data.validated_data["closes_at"],
            now=timezone.now(),
        )
        return Response(AccommodationSerializer(accommodation).data)

    @extend_schema(
        request=None,
        responses={
            204: None,
            404: _error(_NO_EXAM + ", no such student in its level, or no accommodation for them."),
            **_STAFF_ERRORS,
        },
        description="Remove the accommodation. A running attempt keeps at least until now (the moment of the change).",
    )
    def delete(self, request: Request, exam_id: int, student_number: str) -> Response:
        accommodations.accommodation_remove(
            user=request_user(request), exam_id=exam_id, student_number=student_number, now=timezone.now()
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- attempts --------------------------------------------------------------------------------


class AttemptItemSerializer(serializers.Serializer):
    student_number = serializers.CharField(source="student.student_number")
    full_name = serializers.CharField(source="student.full_name")
    started_at = serializers.DateTimeField()
    deadline = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    reopened_until = serializers.DateTimeField(allow_null=True, help_text="Set when the attempt was reopened.")
    answered = serializers.IntegerField(help_text="Questions with a saved answer.")
    last_saved_at = serializers.DateTimeField(allow_null=True)


def _with_progress(exam_id: int, attempts: list[Attempt]) -> list[Attempt]:
    progress = selectors.attempt_progress(exam_id=exam_id, student_ids=[a.student_id for a in attempts])
    for attempt in attempts:
        attempt.answered, attempt.last_saved_at = progress.get(attempt.student_id, (0, None))  # type: ignore[attr-defined]
    return attempts


class AttemptsApi(_OfficeApi):
    @extend_schema(
        responses={200: page_of(AttemptItemSerializer), 404: _error(_NO_EXAM + "."), **_STAFF_ERRORS},
        description="Every attempt of the exam, by student number, with how many questions each has answered and "
        "when it last saved (read from the answer store; 503 `answer_store_unavailable` when it is down).",
    )
    def get(self, request: Request, exam_id: int) -> Response:
        attempts = selectors.attempt_list(user=request_user(request), exam_id=exam_id)
        paginator = PageNumberPagination()
        page = cast(list[Attempt], paginator.paginate_queryset(attempts, request, view=self))
        return paginator.get_paginated_response(AttemptItemSerializer(_with_progress(exam_id, page), many=True).data)


class SaveEventSerializer(serializers.Serializer):
    question = serializers.IntegerField(source="question_id")
    choices = serializers.ListField(child=serializers.IntegerField(), source="choice_ids")
    saved_at = serializers.DateTimeField()
    client_ip = serializers.CharField(allow_blank=True)
    user_agent = serializers.CharField(allow_blank=True)


class AttemptHistoryApi(_OfficeApi):
    class OutputSerializer(serializers.Serializer):
        events = SaveEventSerializer(many=True)

    @extend_schema(
        responses={
            200: OutputSerializer,
            404: _error(_NO_EXAM + ", or the student has not started it."),
            **_STAFF_ERRORS,
        },
        description="Every acknowledged save of the student, one event per question saved, in the order the server "
        "accepted them (by server time), also those that a later save replaced: the record to settle an appeal.",
    )
    def get(self, request: Request, exam_id: int, student_number: str) -> Response:
        events = selectors.attempt_history(user=request_user(request), exam_id=exam_id, student_number=student_number)
        return Response(self.OutputSerializer({"events": events}).data)


class AttemptReopenApi(_OfficeApi):
    class InputSerializer(serializers.Serializer):
        extra_minutes = serializers.IntegerField(min_value=1, max_value=24 * 60)
        reason = StrictCharField(max_length=1000)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: AttemptItemSerializer,
            400: _error("`validation_error`: extra_minutes out of range, or a blank reason."),
            404: _error(_NO_EXAM + ", or the student has not started it."),
            409: _error("`results_released`: the results are out; withdraw the release first."),
            **_STAFF_ERRORS,
        },
        description="After an incident (a power cut in the hall): the attempt, finished or expired, can save again "
        "until now + extra_minutes, even if the exam has closed since. Recorded in the audit with who, when and why.",
    )
    def post(self, request: Request, exam_id: int, student_number: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attempt = accommodations.attempt_reopen(
            user=request_user(request),
            exam_id=exam_id,
            student_number=student_number,
            extra_minutes=data.validated_data["extra_minutes"],
            reason=data.validated_data["reason"],
            now=timezone.now(),
        )
        return Response(AttemptItemSerializer(_with_progress(exam_id, [attempt])[0]).data)
