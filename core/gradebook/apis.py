from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.accounts.authentication import request_user
from core.accounts.models import Role
from core.accounts.validators import STUDENT_NUMBER_REGEX
from core.common.errors import DomainError, PayloadTooLarge
from core.common.fields import MarksField, StrictCharField
from core.common.pagination import PageNumberPagination, PageQuerySerializer, page_of
from core.common.permissions import IsDoctorOrAdmin, IsStudent
from core.common.uploads import body_read, body_size_check
from core.gradebook import selectors, services
from core.gradebook.markr import CONTENT_TYPE, markr_content_type_check


class Forbidden(DomainError):
    status, code, detail = 403, "forbidden", "You are not allowed to do this."


ERROR = inline_serializer(
    "GradebookError",
    {
        "error": serializers.CharField(),
        "detail": serializers.CharField(),
        "fields": serializers.DictField(required=False),
    },
)


def _errors(**described: str) -> dict[int, OpenApiResponse]:
    return {int(code.removeprefix("e")): OpenApiResponse(ERROR, description=text) for code, text in described.items()}


class StrictGradeField(serializers.IntegerField):
    """A JSON integer only: 90.5, "90" and true are refused rather than coerced."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class GradeSubmitApi(APIView):
    permission_classes = [IsDoctorOrAdmin]

    class InputSerializer(serializers.Serializer):
        student_id = serializers.RegexField(
            STUDENT_NUMBER_REGEX, max_length=64, help_text="The student number (a string; leading zeros are kept)."
        )
        subject = serializers.CharField(max_length=100, help_text="The subject's name.")
        grade = StrictGradeField(min_value=0, max_value=100, help_text="A JSON integer from 0 to 100.")

    class OutputSerializer(serializers.Serializer):
        student_id = serializers.CharField()
        subject = serializers.CharField()
        grade = serializers.IntegerField()

    @extend_schema(
        summary="Submit a course grade",
        description=(
            "Upsert a student's grade in a subject: the last write wins. An unknown student number creates the "
            "student; an unknown subject creates the subject, and a doctor who names it then teaches it. "
            "A doctor may write only into subjects they teach (404 for another's subject). "
            "`grade` must be a JSON integer from 0 to 100; anything else is a 400."
        ),
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            **_errors(e400="Validation error.", e401="Not authenticated.", e403="Not a doctor or admin."),
            **_errors(e404="The subject is another doctor's."),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        grade = services.subject_grade_submit(
            user=request_user(request),
            student_number=data.validated_data["student_id"],
            subject_name=data.validated_data["subject"].strip(),
            grade=data.validated_data["grade"],
        )
        body = {"student_id": grade.student.student_number, "subject": grade.subject.name, "grade": grade.grade}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)


class SubjectGradesApi(APIView):
    permission_classes = [IsDoctorOrAdmin]

    class OutputSerializer(serializers.Serializer):
        subject = serializers.CharField()
        student_count = serializers.IntegerField()
        average_grade = serializers.FloatField(allow_null=True)
        median_grade = serializers.FloatField(allow_null=True)

    @extend_schema(
        summary="A subject's grade summary",
        description=(
            "`average_grade` is the mean and `median_grade` the true median (linear interpolation, so the mean "
            "of the middle two for an even count), both unrounded floats; both are null when the subject has no "
            "grades. A doctor sees only the subjects they teach."
        ),
        responses={200: OutputSerializer, **_errors(e401="Not authenticated.", e403="Not a doctor or admin.")}
        | _errors(e404="Unknown subject, or another doctor's."),
    )
    def get(self, request: Request, subject: str) -> Response:
        result = selectors.subject_grade_summary(user=request_user(request), subject_name=subject)
        return Response(self.OutputSerializer(result).data)


class StudentGradesApi(APIView):
    permission_classes = [IsDoctorOrAdmin | IsStudent]

    class OutputSerializer(serializers.Serializer):
        student_id = serializers.CharField()
        grades = serializers.DictField(child=serializers.IntegerField(), help_text="subject name -> grade")
        average_grade = serializers.FloatField(allow_null=True)

    @extend_schema(
        summary="A student's course grades",
        description=(
            "Doctors, admins and API keys, or that student with their own JWT. A student asking for another "
            "number gets 403 (whether or not it exists). A doctor sees the grades of their own subjects only. "
            "`average_grade` is the unrounded mean of the grades shown, or null when there are none."
        ),
        responses={
            200: OutputSerializer,
            **_errors(e401="Not authenticated.", e403="A student asking for another student's grades."),
            **_errors(e404="Unknown student."),
        },
    )
    def get(self, request: Request, student_id: str) -> Response:
        user = request_user(request)
        if user.role == Role.STUDENT and user.student_number != student_id:
            raise Forbidden("Students may read only their own grades.")
        result = selectors.student_grades(user=request_user(request), student_number=student_id)
        return Response(self.OutputSerializer(result).data)


class MarkrImportApi(APIView):
    permission_classes = [IsDoctorOrAdmin]
    parser_classes: list = []  # the view reads the raw body itself, with its own size limit

    class OutputSerializer(serializers.Serializer):
        imported = serializers.IntegerField(help_text="Records in the document, before duplicates were merged.")
        tests = serializers.ListField(child=serializers.CharField(), help_text="Distinct test ids, sorted.")

    @extend_schema(
        summary="Import a Markr document",
        description=(
            f"Send `Content-Type: {CONTENT_TYPE}` (any case, parameters allowed). All or nothing: a bad result "
            "rejects the whole document. 400 for XML that is not well formed or that has a DTD or entity "
            "declaration; 422 names the first bad result, 1-based, in `detail` and in `fields` as "
            "`mcq-test-result[<n>]`. Unknown tests become `paper` exams (owned by the importing doctor, or by "
            "no one for an admin) and unknown students are created. Repeats keep the highest obtained and the "
            "highest available, each on its own. 409 when a test is an online or hand-in exam; 404 when a "
            "doctor names a test that is another doctor's exam."
        ),
        request={CONTENT_TYPE: OpenApiTypes.BINARY},
        responses={
            201: OutputSerializer,
            **_errors(e400="Not well-formed XML, or a DTD/entities.", e401="Not authenticated."),
            **_errors(e403="Not a doctor or admin.", e404="A test that is another doctor's exam."),
            **_errors(e409="A test that is not a paper exam.", e413="Larger than MARKR_MAX_BYTES."),
            **_errors(e415="Wrong content type.", e422="A bad result; the first one is named."),
        },
        examples=[OpenApiExample("Created", value={"imported": 1, "tests": ["9863"]}, response_only=True)],
    )
    def post(self, request: Request) -> Response:
        markr_content_type_check(request.META.get("CONTENT_TYPE"))
        body = _read_body(request, limit=settings.MARKR_MAX_BYTES)
        result = services.markr_import(user=request_user(request), body=body)
        return Response(self.OutputSerializer(result).data, status=status.HTTP_201_CREATED)


def _read_body(request: Request, *, limit: int) -> bytes:
    """The raw body, refusing more than `limit` bytes by the declared length and by what actually arrives."""
    too_large = PayloadTooLarge(f"The document is larger than {limit} bytes; send larger files to /api/imports.")
    body_size_check(meta=request.META, limit=limit, error=too_large)
    return body_read(stream=request._request, limit=limit, error=too_large)


class TestAggregateApi(APIView):
    permission_classes = [IsDoctorOrAdmin]

    class OutputSerializer(serializers.Serializer):
        mean = serializers.FloatField(allow_null=True)
        stddev = serializers.FloatField(allow_null=True, help_text="Population standard deviation.")
        min = serializers.FloatField(allow_null=True)
        max = serializers.FloatField(allow_null=True)
        p25 = serializers.FloatField(allow_null=True)
        p50 = serializers.FloatField(allow_null=True)
        p75 = serializers.FloatField(allow_null=True)
        count = serializers.IntegerField()

    @extend_schema(
        summary="A test's aggregate",
        description=(
            "Percentages (100 * obtained / available, 0 to 100) of the test's degrees: mean, population "
            "standard deviation, min, max and the quartiles by linear interpolation (PostgreSQL's "
            "percentile_cont), unrounded. A known test with no degrees has count 0 and nulls. A doctor "
            "sees only their own exams."
        ),
        responses={
            200: OutputSerializer,
            **_errors(e401="Not authenticated.", e403="Not a doctor or admin."),
            **_errors(e404="Unknown test, or another doctor's."),
        },
    )
    def get(self, request: Request, test_id: str) -> Response:
        figures = selectors.test_aggregate(user=request_user(request), test_id=test_id).as_dict()
        # The figures are floats, ints and nulls already: the serializer describes them (the schema) but is not run,
        # which saves a third of a millisecond per call (docs/benchmarks.md, the aggregate's fixed cost).
        return Response({name: figures[name] for name in _AGGREGATE_FIELDS})


_AGGREGATE_FIELDS = tuple(TestAggregateApi.OutputSerializer().fields)


class MarkrResultsApi(APIView):
    permission_classes = [IsDoctorOrAdmin]

    class QuerySerializer(PageQuerySerializer):
        # Blank is taken, as DRF reads a blank query parameter as absent: `?test_id=` lists every test.
        test_id = StrictCharField(
            required=False, allow_blank=True, max_length=64, help_text="Only this test's results (blank: all)."
        )

    class OutputSerializer(serializers.Serializer):
        test_id = serializers.CharField()
        student_number = serializers.CharField()
        first_name = serializers.CharField()
        last_name = serializers.CharField()
        marks_available = serializers.IntegerField()
        marks_obtained = MarksField()
        scanned_on = serializers.DateTimeField(
            allow_null=True, help_text="The latest scan of this result, in UTC; null for a result not scanned."
        )

    @extend_schema(
        summary="The stored results",
        description=(
            "The stored results the caller may see, by test id and student number, paginated: a doctor (or their "
            "API key) sees those of their own exams, an admin all of them, as for the aggregate. `test_id` keeps "
            "one test's results (an unknown test gives an empty page). Marks are the stored ones, after the Markr "
            "rule. Names and `scanned_on` are the Markr document's; a result that came another way (online "
            "grading, a degrees file) has `scanned_on` null and the student's full name split at the first space."
        ),
        parameters=[QuerySerializer],
        responses={
            200: page_of(OutputSerializer),
            **_errors(e400="A malformed test id, page or page size.", e401="Not authenticated."),
            **_errors(e403="Not a doctor or admin.", e404="No such page."),
        },
    )
    def get(self, request: Request) -> Response:
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.markr_results(user=request_user(request), test_id=query.validated_data.get("test_id") or None)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)
