from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.accounts.authentication import request_user
from core.common.fields import MarksField, StrictCharField, marks_number
from core.common.pagination import PageNumberPagination, page_of
from core.common.parsers import BoundedJSONParser
from core.common.permissions import IsDoctorOrAdmin, IsStudent
from core.grading import selectors, services
from core.grading.renderers import CSVRenderer, XLSXRenderer
from core.jobs.serializers import JobSerializer


class ExamGradeApi(APIView):
    permission_classes = [IsDoctorOrAdmin]

    @extend_schema(
        request=None,
        responses={202: inline_serializer("ExamGradeQueued", {"job": JobSerializer()})},
        description=(
            "Grades (or regrades) every attempt of the exam from the current answer key, in the background, and "
            "finishes the expired attempts. Running it again gives the same degrees. Once the exam is closed or "
            "past its window, its status becomes `graded`. 409 for a draft exam, for an exam that is not `online`, "
            "and for an exam without questions; 404 for another doctor's exam."
        ),
    )
    def post(self, request: Request, exam_id: int) -> Response:
        job = services.exam_grade_start(user=request_user(request), exam_id=exam_id)
        return Response({"job": JobSerializer(job).data}, status=status.HTTP_202_ACCEPTED)


class ExamResultApi(APIView):
    permission_classes = [IsStudent]

    class OutputSerializer(serializers.Serializer):
        marks_obtained = MarksField()
        marks_available = serializers.IntegerField()
        percentage = serializers.FloatField()
        graded_at = serializers.DateTimeField()

    @extend_schema(
        responses=OutputSerializer,
        description="The student's own result, once they are graded and the results are released; 404 before "
        'that, and always when the exam\'s `review` is "none". `marks_available` is the points of the questions '
        "this attempt was given.",
    )
    def get(self, request: Request, exam_id: int) -> Response:
        degree = selectors.result_for_student(student_id=request_user(request).pk, exam_id=exam_id)
        return Response(self.OutputSerializer(degree).data)


DEGREE_COLUMNS = (
    "student_number",
    "full_name",
    "marks_obtained",
    "marks_available",
    "percentage",
    "source",
    "graded_at",
)


class OverrideSerializer(serializers.Serializer):
    by = serializers.CharField(source="override_by_email", allow_null=True, help_text="Who overrode it (email).")
    reason = serializers.CharField(source="override_reason")
    at = serializers.DateTimeField(source="override_at")
    previous_marks_obtained = MarksField(help_text="The marks before the override.")


class DegreeSerializer(serializers.Serializer):
    student_number = serializers.CharField()
    full_name = serializers.CharField()
    marks_obtained = MarksField()
    marks_available = serializers.IntegerField()
    percentage = serializers.FloatField()
    # A field named like Field.source: DRF's metaclass moves declared fields off the class, so it shadows nothing.
    source = serializers.CharField()  # type: ignore[assignment]
    graded_at = serializers.DateTimeField()
    override = serializers.SerializerMethodField(help_text="The doctor's override; null when there is none.")

    @extend_schema_field(OverrideSerializer(allow_null=True))
    def get_override(self, row: dict[str, Any]) -> dict[str, Any] | None:
        return None if row.get("override_at") is None else OverrideSerializer(row).data


def _table_row(row: dict[str, Any]) -> list[Any]:
    return [marks_number(row[c]) if c == "marks_obtained" else row[c] for c in DEGREE_COLUMNS]


class ExamDegreesApi(APIView):
    permission_classes = [IsDoctorOrAdmin]
    renderer_classes = [JSONRenderer, CSVRenderer, XLSXRenderer]
    OutputSerializer = DegreeSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=["json", "csv", "xlsx"],
                description="csv or xlsx: download every row (not paginated) as a file.",
            )
        ],
        responses={
            (200, "application/json"): page_of(OutputSerializer),
            (200, CSVRenderer.media_type): OpenApiResponse(OpenApiTypes.BINARY, description="Every row, as CSV."),
            (200, XLSXRenderer.media_type): OpenApiResponse(OpenApiTypes.BINARY, description="Every row, as XLSX."),
        },
        description="The exam's degrees by student number: a paginated JSON list, or a CSV or XLSX download.",
    )
    def get(self, request: Request, exam_id: int) -> Response:
        exam = selectors.exam_for_staff(user=request_user(request), exam_id=exam_id)
        rows = selectors.degree_rows(exam_id=exam.id)
        file_format = request.accepted_renderer.format
        if request.query_params.get("format", "json") not in ("json", "csv", "xlsx"):
            raise ValidationError({"format": ["Must be json, csv or xlsx."]})
        if file_format in ("csv", "xlsx"):
            table = {"columns": DEGREE_COLUMNS, "rows": (_table_row(row) for row in rows)}
            response = Response(table)
            response["Content-Disposition"] = f'attachment; filename="degrees-{exam.code}.{file_format}"'
            return response
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        # Errors are JSON whatever format was asked for.
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class StatsChoiceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    picked = serializers.IntegerField()


class StatsQuestionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    answered = serializers.IntegerField(help_text="Graded students who chose anything for this question.")
    correct_rate = serializers.FloatField(
        allow_null=True, help_text="Correct answers / graded students (an unanswered question counts as wrong)."
    )
    discrimination = serializers.FloatField(
        allow_null=True,
        help_text="Correct rate in the top 27% of students by percentage minus that in the bottom 27%.",
    )
    facility_index = serializers.FloatField(
        allow_null=True, help_text="Moodle's facility index: the mean score on this question, as % of its points."
    )
    discrimination_index = serializers.FloatField(
        allow_null=True,
        help_text="Moodle's discrimination index: 100 x the correlation between this question's score and the "
        "rest of the exam's (null when either does not vary).",
    )
    choices = StatsChoiceSerializer(many=True, help_text="How many graded students picked each choice.")


class ExamStatsApi(APIView):
    permission_classes = [IsDoctorOrAdmin]

    class OutputSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        mean = serializers.FloatField(allow_null=True)
        stddev = serializers.FloatField(allow_null=True, help_text="Population standard deviation.")
        min = serializers.FloatField(allow_null=True)
        max = serializers.FloatField(allow_null=True)
        p25 = serializers.FloatField(allow_null=True, help_text="Linear interpolation (percentile_cont).")
        p50 = serializers.FloatField(allow_null=True)
        p75 = serializers.FloatField(allow_null=True)
        histogram = serializers.ListField(
            child=serializers.IntegerField(), help_text="10 counts: 0-10, 10-20, ..., 90-100 (100 in the last)."
        )
        questions = StatsQuestionSerializer(many=True)

    @extend_schema(
        responses=OutputSerializer,
        description=(
            "Statistics of the exam's degrees, over their percentages (docs/product.md rule 6), null figures when "
            "nothing is graded; and per question, from the graded students' answers."
        ),
    )
    def get(self, request: Request, exam_id: int) -> Response:
        exam = selectors.exam_for_staff(user=request_user(request), exam_id=exam_id)
        return Response(self.OutputSerializer(selectors.exam_stats(exam=exam)).data)


ERROR = inline_serializer(
    "GradingError",
    {
        "error": serializers.CharField(),
        "detail": serializers.CharField(),
        "fields": serializers.DictField(required=False),
    },
)


def _errors(**described: str) -> dict[int, OpenApiResponse]:
    return {int(code.removeprefix("e")): OpenApiResponse(ERROR, description=text) for code, text in described.items()}


class DegreeOverrideApi(APIView):
    permission_classes = [IsDoctorOrAdmin]
    parser_classes = [BoundedJSONParser]

    class InputSerializer(serializers.Serializer):
        marks_obtained = MarksField(help_text="0 to the degree's marks_available (422 otherwise); four places.")
        reason = StrictCharField(allow_blank=True, max_length=2000, help_text="Why; a blank reason is a 422.")

    @extend_schema(
        request=InputSerializer,
        responses={
            200: DegreeSerializer,
            **_errors(e400="Malformed body.", e401="Not authenticated.", e403="Not a doctor or admin."),
            **_errors(e404="Another doctor's exam, or a student without a degree in it."),
            **_errors(e422="Marks below 0 or above marks_available, or a blank reason."),
        },
        description="Override one degree by hand, with a reason: its source becomes `manual` and grading, "
        "regrading and imports leave it as it is until the override is removed. Recorded in the audit.",
    )
    def put(self, request: Request, exam_id: int, student_number: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.degree_override(
            user=request_user(request),
            exam_id=exam_id,
            student_number=student_number,
            marks_obtained=data.validated_data["marks_obtained"],
            reason=data.validated_data["reason"],
            now=timezone.now(),
        )
        row = selectors.degree_rows(exam_id=exam_id).get(student__student_number=student_number)
        return Response(DegreeSerializer(row).data)


class DegreeOverrideRemoveApi(APIView):
    permission_classes = [IsDoctorOrAdmin]

    @extend_schema(
        request=None,
        responses={
            204: None,
            **_errors(e401="Not authenticated.", e403="Not a doctor or admin."),
            **_errors(e404="Another doctor's exam, a student without a degree, or a degree without an override."),
        },
        description="Remove a degree's override: the marks and source from before it come back, and the next "
        "grading recomputes the degree. Recorded in the audit.",
    )
    def delete(self, request: Request, exam_id: int, student_number: str) -> Response:
        services.degree_override_remove(
            user=request_user(request), exam_id=exam_id, student_number=student_number, now=timezone.now()
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExamReviewApi(APIView):
    permission_classes = [IsStudent]

    class QuestionSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        text = serializers.CharField()
        points = serializers.IntegerField()
        your_choices = serializers.ListField(child=serializers.IntegerField(), help_text="As last saved.")
        correct_choices = serializers.ListField(child=serializers.IntegerField())
        marks_obtained = MarksField(help_text="This question's marks by its scoring and the current key.")

    @extend_schema(
        responses={
            200: inline_serializer("StudentReview", {"questions": QuestionSerializer(many=True)}),
            **_errors(e401="Not authenticated.", e403="Not a student."),
            **_errors(e404='Not released, not graded, or the exam\'s `review` is not "answers".'),
        },
        description="The student's own answers beside the correct ones, question by question in the attempt's "
        'order, once results are released and the exam\'s `review` is "answers"; 404 otherwise.',
    )
    def get(self, request: Request, exam_id: int) -> Response:
        questions = selectors.review_for_student(student_id=request_user(request).pk, exam_id=exam_id)
        return Response({"questions": self.QuestionSerializer(questions, many=True).data})
