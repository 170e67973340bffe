from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView, TokenVerifyView

from core.accounts import selectors, services
from core.accounts.authentication import JWTAuthentication, request_user
from core.accounts.throttles import (
    LoginThrottled,
    device_cookie_set,
    login_failed,
    login_guard,
    login_succeeded,
    normalized_email,
)
from core.accounts.tokens import (
    RefreshSerializer,
    SingleUseRefreshToken,
    UserSerializer,
    VerifySerializer,
    user_payload,
)
from core.accounts.validators import STUDENT_NUMBER_REGEX
from core.common.fields import StrictCharField
from core.common.pagination import PageNumberPagination, page_of
from core.common.permissions import IsAdmin, IsDoctorOrAdmin, IsPerson, IsPersonDoctorOrAdmin


class LoginApi(TokenObtainPairView):
    throttle_classes: list = []  # failures only, shared with the admin's login: core/accounts/throttles.py

    @extend_schema(
        responses={
            200: inline_serializer(
                "LoginResult",
                {"access": serializers.CharField(), "refresh": serializers.CharField(), "user": UserSerializer()},
            ),
            401: OpenApiResponse(description="The email or the password is not correct (one message for both)."),
            429: OpenApiResponse(
                description="Too many failed logins from this address, or for this email from untrusted clients; "
                "see Retry-After. A client that logged in as this email before (its device cookie) is judged by "
                "its own failures only."
            ),
        }
    )
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        email = normalized_email(request.data.get("email") if hasattr(request.data, "get") else None)
        try:
            login_guard(request=request, email=email)
        except LoginThrottled as exc:
            raise Throttled(wait=exc.wait, detail=str(exc)) from exc
        try:
            response = super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            login_failed(request=request, email=email)
            raise
        device_cookie_set(response, login_succeeded(request=request, email=email))
        return response


class RefreshApi(TokenRefreshView):
    serializer_class = RefreshSerializer


class VerifyApi(TokenVerifyView):
    serializer_class = VerifySerializer


class LogoutApi(APIView):
    authentication_classes = [JWTAuthentication]
    permission_classes = [IsPerson]

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            token = SingleUseRefreshToken(data.validated_data["refresh"])
            if str(token.payload.get("user_id")) != str(request.user.id):
                raise TokenError("This refresh token belongs to someone else.")
            token.blacklist()
        except TokenError as exc:
            raise InvalidToken(exc.args[0]) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllApi(APIView):
    permission_classes = [IsPerson]

    @extend_schema(
        request=None,
        responses={
            204: None,
            401: OpenApiResponse(description="No valid access token (or its session has already ended)."),
            403: OpenApiResponse(description="An API key: only a person logs out."),
        },
        description="Ends every session of the caller, this one included: every access and refresh token issued "
        "before now is refused from now on, on every endpoint, saving answers included. Log in again to continue.",
    )
    def post(self, request: Request) -> Response:
        services.user_sessions_end(user_id=request_user(request).pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses=UserSerializer)
    def get(self, request: Request) -> Response:
        return Response(user_payload(request_user(request)))


class StudentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField(allow_null=True)
    full_name = serializers.CharField()
    student_number = serializers.CharField()
    level = serializers.CharField(source="level.name", allow_null=True, default=None)


class StudentsApi(APIView):
    permission_classes = [IsDoctorOrAdmin]

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(required=False, allow_null=True, allow_blank=True)
        full_name = serializers.CharField(max_length=200)
        student_number = serializers.RegexField(STUDENT_NUMBER_REGEX, max_length=64)
        level = serializers.CharField(max_length=100)
        password = serializers.CharField(required=False, allow_null=True, min_length=8, max_length=128)

    @extend_schema(request=InputSerializer, responses={201: StudentOutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        student = services.student_create(**data.validated_data)
        return Response(StudentOutputSerializer(student).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("level", str), OpenApiParameter("search", str)],
        responses=page_of(StudentOutputSerializer),
        description="An admin gets every student; a doctor (or their API key) the students of the levels their "
        "exams are offered to. `level` and `search` (number, name or email) narrow that list.",
    )
    def get(self, request: Request) -> Response:
        students = selectors.student_list(
            user=request_user(request),
            level=request.query_params.get("level"),
            search=request.query_params.get("search"),
        )
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(students, request, view=self)
        return paginator.get_paginated_response(StudentOutputSerializer(page, many=True).data)


class DoctorsApi(APIView):
    permission_classes = [IsAdmin, IsPerson]

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        full_name = serializers.CharField(max_length=200)
        password = serializers.CharField(min_length=8, max_length=128)
        subjects = serializers.ListField(child=serializers.CharField(max_length=100), required=False)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        email = serializers.EmailField()
        full_name = serializers.CharField()
        role = serializers.CharField()
        subjects = serializers.SerializerMethodField()

        def get_subjects(self, doctor: object) -> list[str]:
            return sorted(s.name for s in doctor.subjects.all())  # type: ignore[attr-defined]

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        doctor = services.doctor_create(**data.validated_data)
        return Response(self.OutputSerializer(doctor).data, status=status.HTTP_201_CREATED)


class ApiKeyOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class ApiKeysApi(APIView):
    permission_classes = [IsPersonDoctorOrAdmin]

    class InputSerializer(serializers.Serializer):
        name = StrictCharField(max_length=100)

    class CreatedSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        key = serializers.CharField()
        created_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={201: CreatedSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, raw = services.api_key_create(user=request_user(request), name=data.validated_data["name"])
        body = {"id": key.id, "name": key.name, "key": raw, "created_at": key.created_at}
        return Response(self.CreatedSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=page_of(ApiKeyOutputSerializer))
    def get(self, request: Request) -> Response:
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(selectors.api_key_list(user=request_user(request)), request, view=self)
        return paginator.get_paginated_response(ApiKeyOutputSerializer(page, many=True).data)


class ApiKeyDetailApi(APIView):
    permission_classes = [IsPersonDoctorOrAdmin]

    @extend_schema(responses={204: None})
    def delete(self, request: Request, key_id: int) -> Response:
        services.api_key_revoke(user=request_user(request), key_id=key_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
