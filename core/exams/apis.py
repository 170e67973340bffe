"""The exam API: doctors manage exams, students take them. Views parse, call one service, serialise."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from drf_spectacular.drainage import set_override
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication

from core.accounts.authentication import JWTStatelessAuthentication, request_user
from core.accounts.models import Role
from core.common import metrics
from core.common.pagination import PageNumberPagination, page_of
from core.common.parsers import BoundedJSONParser
from core.common.permissions import IsDoctorOrAdmin, IsPerson, IsStudent
from core.exams import selectors, services
from core.exams.hot_path import AnswersField, save_origin
from core.exams.models import Exam, Question
from core.exams.schema import ExamKindField, ExamReviewField, ExamStatusField, QuestionScoringField

# The stateless JWT check is the same bearer scheme as the default one, only without the user query.
set_override(JWTStatelessUserAuthentication, "suppress_collision_warning", True)
set_override(JWTStatelessAuthentication, "suppress_collision_warning", True)


# --- output ---------------------------------------------------------------------------------


class AttemptSerializer(serializers.Serializer):
    started_at = serializers.DateTimeField()
    deadline = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class StudentChoiceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()


class DoctorChoiceSerializer(StudentChoiceSerializer):
    is_correct = serializers.BooleanField()


class StudentQuestionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    image_url = serializers.SerializerMethodField()
    points = serializers.IntegerField()
    choices = StudentChoiceSerializer(many=True, source="choices.all")
    multiple = serializers.SerializerMethodField(
        help_text="True when more than one choice is correct, so that a page shows check boxes, not radio buttons."
    )

    def get_image_url(self, question: Question) -> str | None:
        return question.image.url if question.image else None

    def get_multiple(self, question: Question) -> bool:
        # From the prefetched choices: no query per question.
        return sum(1 for choice in question.choices.all() if choice.is_correct) > 1


class DoctorQuestionSerializer(StudentQuestionSerializer):
    position = serializers.IntegerField()
    scoring = QuestionScoringField()
    choices = DoctorChoiceSerializer(many=True, source="choices.all")


class _ExamBaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    title = serializers.CharField()
    subject = serializers.CharField(source="subject.name")
    level = serializers.CharField(source="level.name", allow_null=True, default=None)
    kind = ExamKindField()
    opens_at = serializers.DateTimeField(allow_null=True)
    closes_at = serializers.DateTimeField(allow_null=True)
    duration_minutes = serializers.IntegerField()
    grace_seconds = serializers.IntegerField()
    status = ExamStatusField()


class StudentExamSerializer(_ExamBaseSerializer):
    attempt = serializers.SerializerMethodField()
    result_available = serializers.BooleanField()

    @extend_schema_field(AttemptSerializer(allow_null=True))
    def get_attempt(self, exam: Exam) -> dict[str, Any] | None:
        attempt = selectors.attempt_of(exam=exam)
        return AttemptSerializer(attempt).data if attempt else None


class StudentExamDetailSerializer(StudentExamSerializer):
    questions = serializers.SerializerMethodField(
        help_text="The questions, without is_correct; empty before the exam's window opens (unless started)."
    )
    server_time = serializers.DateTimeField()

    @extend_schema_field(StudentQuestionSerializer(many=True))
    def get_questions(self, exam: Exam) -> list[dict[str, Any]]:
        # Nobody reads the questions before the window opens; within it, the contract shows them.
        attempt = selectors.attempt_of(exam=exam)
        if attempt is None and not exam.is_open_at(timezone.now()):
            return []
        questions = cast(list[dict[str, Any]], StudentQuestionSerializer(exam.questions.all(), many=True).data)
        if attempt is None:
            return questions
        # Once started: only the attempt's questions, in its order, each with its choices in its order.
        by_id = {question["id"]: question for question in questions}
        given = []
        for question_id in attempt.questions_given(list(by_id)):
            question = by_id[question_id]
            choices = {choice["id"]: choice for choice in question["choices"]}
            question["choices"] = [choices[c] for c in attempt.choices_in_order(question_id, list(choices))]
            given.append(question)
        return given


class DoctorExamSerializer(_ExamBaseSerializer):
    results_released = serializers.BooleanField()
    shuffle_questions = serializers.BooleanField()
    shuffle_choices = serializers.BooleanField()
    questions_per_attempt = serializers.IntegerField(allow_null=True)
    review = ExamReviewField()
    owner = serializers.CharField(source="owner.email", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class DoctorExamDetailSerializer(DoctorExamSerializer):
    questions = DoctorQuestionSerializer(many=True, source="questions.all")


ExamListItem = PolymorphicProxySerializer(
    component_name="ExamListItem",
    serializers=[StudentExamSerializer, DoctorExamSerializer],
    resource_type_field_name=None,
    many=True,
)
ExamDetail = PolymorphicProxySerializer(
    component_name="ExamDetail",
    serializers=[StudentExamDetailSerializer, DoctorExamDetailSerializer],
    resource_type_field_name=None,
)


def _exam_detail(*, request: Request, exam: Exam) -> dict[str, Any]:
    if request_user(request).role == Role.STUDENT:
        exam.server_time = timezone.now()  # type: ignore[attr-defined]
        return StudentExamDetailSerializer(exam).data  # type: ignore[return-value]
    return DoctorExamDetailSerializer(exam).data  # type: ignore[return-value]


# --- input ----------------------------------------------------------------------------------


class ChoiceInputSerializer(serializers.Serializer):
    id = serializers.IntegerField(required=False, help_text="PATCH only: the choice to correct.")
    text = serializers.CharField(max_length=500)
    is_correct = serializers.BooleanField(default=False)


class QuestionInputSerializer(serializers.Serializer):
    id = serializers.IntegerField(required=False, help_text="PATCH only: the question to correct.")
    text = serializers.CharField()
    points = serializers.IntegerField(min_value=0, max_value=1000, default=1)
    scoring = QuestionScoringField(
        required=False,
        help_text="all_or_nothing (the default for a new question): the points when the chosen set equals the "
        "correct set, else 0. partial: points x max(0, right picks - wrong picks) / number of correct choices. "
        "Left out in a PATCH, a question keeps its scoring.",
    )
    choices = ChoiceInputSerializer(many=True)


def _code_has_no_slash(value: str) -> None:
    if "/" in value:
        raise serializers.ValidationError("An exam code may not contain '/'.")


class ExamInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64, validators=[_code_has_no_slash])
    title = serializers.CharField(max_length=200)
    subject = serializers.CharField(max_length=100)
    level = serializers.CharField(max_length=100)
    kind = ExamKindField()
    opens_at = serializers.DateTimeField(allow_null=True)
    closes_at = serializers.DateTimeField(allow_null=True)
    duration_minutes = serializers.IntegerField(min_value=1, max_value=7 * 24 * 60)
    grace_seconds = serializers.IntegerField(min_value=0, max_value=3600, required=False)
    questions = QuestionInputSerializer(many=True, required=False, max_length=500)  # type: ignore[call-arg]
    shuffle_questions = serializers.BooleanField(
        required=False, help_text="Each attempt sees the questions in its own order (default false)."
    )
    shuffle_choices = serializers.BooleanField(
        required=False, help_text="Each attempt sees each question's choices in its own order (default false)."
    )
    questions_per_attempt = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="N: each attempt is given N questions drawn at random (1 to the number of questions, else "
        "422); null (the default): every question. Cannot change once an attempt exists (409 draw_locked).",
    )
    review = ExamReviewField(
        required=False,
        help_text='What a student may see once results are released: "none" (/result is 404), "score" (the '
        'default: /result), or "answers" (/result and /review).',
    )


class ExamPatchSerializer(ExamInputSerializer):
    status = ExamStatusField(required=False)
    results_released = serializers.BooleanField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, partial=True, **kwargs)

    def validate_questions(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # A partial update is partial at the top only: each question sent is whole, with its defaults.
        whole = QuestionInputSerializer(data=self.initial_data.get("questions"), many=True)
        whole.is_valid(raise_exception=True)
        return cast(list[dict[str, Any]], whole.validated_data)


class SavedAnswerSerializer(serializers.Serializer):
    question = serializers.IntegerField(source="question_id")
    choices = serializers.ListField(child=serializers.IntegerField(), source="choice_ids")
    saved_at = serializers.DateTimeField()


def _student_id(request: Request) -> int:
    # The stateless token user's id is the token's `user_id` claim, which simplejwt writes as a string.
    return int(cast(Any, request.user).id)


class _ExamTakingApi(APIView):
    """Every exam-taking response carries `server_time` (docs/product.md rule 2), errors included, so that a
    client told `attempt_closed` can see the clock it was judged by."""

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(response.data, dict):
            response.data.setdefault("server_time", timezone.now())
        return response


class _ByMethod(APIView):
    """Picks permissions per HTTP method from `permissions_by_method`."""

    permissions_by_method: dict[str, list[type[BasePermission]]] = {}
    parser_classes = [BoundedJSONParser]

    def get_permissions(self) -> list[BasePermission]:
        method = (self.request.method or "GET").lower()
        return [permission() for permission in self.permissions_by_method.get(method, [IsPerson])]


# --- views ----------------------------------------------------------------------------------


class ExamsApi(_ByMethod):
    permissions_by_method = {"get": [IsPerson], "post": [IsDoctorOrAdmin]}

    @extend_schema(
        responses=page_of(ExamListItem),
        operation_id="api_exams_list",
        description="A student gets the exams of their level that have left draft, with their attempt and "
        "whether a result is available. A doctor gets their own exams; an admin every exam.",
    )
    def get(self, request: Request) -> Response:
        exams = selectors.exam_list(user=request_user(request))
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(exams, request, view=self)
        item = StudentExamSerializer if request_user(request).role == Role.STUDENT else DoctorExamSerializer
        return paginator.get_paginated_response(item(page, many=True).data)

    @extend_schema(request=ExamInputSerializer, responses={201: DoctorExamDetailSerializer})
    def post(self, request: Request) -> Response:
        data = ExamInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        exam = services.exam_create(user=request_user(request), **data.validated_data)
        exam = selectors.exam_get(user=request_user(request), exam_id=exam.id)
        return Response(DoctorExamDetailSerializer(exam).data, status=status.HTTP_201_CREATED)


class ExamDetailApi(_ByMethod):
    permissions_by_method = {"get": [IsPerson], "patch": [IsDoctorOrAdmin]}

    @extend_schema(
        responses=ExamDetail,
        description="A student never gets is_correct, sees the questions once the window is open (or they "
        "have started), and gets 404 for an exam they may not see. A doctor gets their own exams with is_correct.",
    )
    def get(self, request: Request, exam_id: int) -> Response:
        exam = selectors.exam_get(user=request_user(request), exam_id=exam_id)
        return Response(_exam_detail(request=request, exam=exam))

    @extend_schema(
        request=ExamPatchSerializer,
        responses={200: DoctorExamDetailSerializer},
        description="Any field; `questions` replaces the exam's questions: items with an `id` correct that "
        "question (choices likewise), items without one are added, those left out are removed. Once an "
        "attempt exists, adding or removing is 409 `questions_locked`. `status` only moves forward.",
    )
    def patch(self, request: Request, exam_id: int) -> Response:
        data = ExamPatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.exam_update(user=request_user(request), exam_id=exam_id, changes=dict(data.validated_data))
        exam = selectors.exam_get(user=request_user(request), exam_id=exam_id)
        return Response(DoctorExamDetailSerializer(exam).data)


class AttemptStartApi(_ExamTakingApi):
    permission_classes = [IsStudent]

    class OutputSerializer(AttemptSerializer):
        server_time = serializers.DateTimeField()

    @extend_schema(request=None, responses={200: OutputSerializer, 201: OutputSerializer})
    def post(self, request: Request, exam_id: int) -> Response:
        now = timezone.now()
        attempt, created = services.attempt_start(student=request_user(request), exam_id=exam_id, now=now)
        attempt.server_time = now  # type: ignore[attr-defined]
        return Response(
            self.OutputSerializer(attempt).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


# --- the answer-saving hot path ---------------------------------------------------------------
# A PUT of answers takes the lean road of core/exams/hot_path.py (its LeanAnswersMiddleware, before the session
# and CSRF middleware) when the request is the common, well-formed kind and the switch is on; anything else
# reaches this view and goes down DRF's road (AnswersApi.put).


class AnswersApi(_ExamTakingApi):
    # The hot path: the JWT is checked in-process and the user never loaded (its role rides in the token).
    authentication_classes = [JWTStatelessAuthentication]
    permission_classes = [IsStudent]
    parser_classes = [BoundedJSONParser]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = cast(HttpResponse, super().dispatch(request, *args, **kwargs))
        if request.method == "PUT" and settings.METRICS_ENABLED:  # the lean road counts its own saves
            metrics.ANSWER_SAVES.labels(metrics.answer_save_outcome(response.status_code)).inc()
        return response

    class InputSerializer(serializers.Serializer):
        answers = AnswersField()

    class SavedSerializer(serializers.Serializer):
        saved = serializers.IntegerField()
        server_time = serializers.DateTimeField()

    class OutputSerializer(serializers.Serializer):
        answers = SavedAnswerSerializer(many=True)
        server_time = serializers.DateTimeField()

    @extend_schema(
        request=InputSerializer,
        responses={200: SavedSerializer},
        description="1 to 200 answers, stored all or none. A later save of a question replaces the earlier one.",
    )
    def put(self, request: Request, exam_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        now = timezone.now()
        saved = services.answers_save(
            student_id=_student_id(request),
            exam_id=exam_id,
            answers=data.validated_data["answers"],
            now=now,
            origin=save_origin(request),
        )
        return Response({"saved": saved, "server_time": now})

    @extend_schema(responses={200: OutputSerializer}, description="The student's own saved answers, to resume.")
    def get(self, request: Request, exam_id: int) -> Response:
        answers = services.answers_get(student_id=_student_id(request), exam_id=exam_id)
        return Response(self.OutputSerializer({"answers": answers, "server_time": timezone.now()}).data)


class FinishApi(_ExamTakingApi):
    authentication_classes = [JWTStatelessAuthentication]
    permission_classes = [IsStudent]

    class OutputSerializer(serializers.Serializer):
        finished_at = serializers.DateTimeField()
        server_time = serializers.DateTimeField()

    @extend_schema(request=None, responses={202: OutputSerializer})
    def post(self, request: Request, exam_id: int) -> Response:
        now = timezone.now()
        attempt = services.attempt_finish(student_id=_student_id(request), exam_id=exam_id, now=now)
        return Response({"finished_at": attempt.finished_at, "server_time": now}, status=status.HTTP_202_ACCEPTED)
