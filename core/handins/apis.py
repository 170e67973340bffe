from __future__ import annotations

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.accounts.authentication import request_user
from core.common.permissions import IsDoctorOrAdmin
from core.common.throttles import CodeGuessThrottled
from core.common.uploads import upload_file, upload_limit_set
from core.handins import selectors, services
from core.handins.storage import DOWNLOAD_EXPIRES_SECONDS, local_link_open

# A handed-in file up to this size stays in memory while it arrives; a larger one spills to a temporary file.
SPOOL_IN_MEMORY_BYTES = 1024 * 1024


class SubmissionSerializer(serializers.Serializer):
    md5 = serializers.CharField()
    size_bytes = serializers.IntegerField()
    verification_code = serializers.CharField()
    created_at = serializers.DateTimeField()


class HandInStateSerializer(serializers.Serializer):
    uploads_available = serializers.IntegerField()
    last_submission = SubmissionSerializer(source="last_upload", allow_null=True)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(description=description)


class ExamHandInsApi(APIView):
    """Register students for a `handin` exam, and list its hand-ins (owner or admin)."""

    permission_classes = [IsDoctorOrAdmin]

    class InputSerializer(serializers.Serializer):
        student_number = serializers.CharField(max_length=64)

    class OutputSerializer(serializers.Serializer):
        student_number = serializers.CharField(source="student.student_number")
        upload_code = serializers.CharField()
        uploads_available = serializers.IntegerField()

    class ListItemSerializer(serializers.Serializer):
        student_number = serializers.CharField(source="student.student_number")
        full_name = serializers.CharField(source="student.full_name")
        upload_code = serializers.CharField()
        uploads_available = serializers.IntegerField()
        last_submission = SubmissionSerializer(source="last_upload", allow_null=True)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            404: _error("No such exam visible to you."),
            409: _error(
                "`handin_exists`: the student already has a hand-in; `not_a_handin_exam`: the exam is not a hand-in."
            ),
            422: _error("No student has this number."),
        },
    )
    def post(self, request: Request, exam_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        handin = services.handin_create(user=request_user(request), exam_id=exam_id, **data.validated_data)
        return Response(self.OutputSerializer(handin).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={
            200: inline_serializer(
                "ExamHandInsList",
                {
                    "totals": inline_serializer(
                        "ExamHandInsTotals",
                        {
                            "students": serializers.IntegerField(help_text="Hand-ins registered for the exam."),
                            "submissions": serializers.IntegerField(help_text="Uploads made, over all hand-ins."),
                        },
                    ),
                    "handins": ListItemSerializer(many=True),
                },
            ),
            404: _error("No such exam visible to you."),
        }
    )
    def get(self, request: Request, exam_id: int) -> Response:
        exam = services.handin_exam_get(user=request_user(request), exam_id=exam_id)
        handins = selectors.handins_of_exam(exam_id=exam.pk)
        totals = {"students": len(handins), "submissions": sum(h.uploads_used for h in handins)}
        return Response({"totals": totals, "handins": self.ListItemSerializer(handins, many=True).data})


_THROTTLED = _error("Too many unknown codes from this address (CODE_FAILURES_PER_CLIENT); see Retry-After.")


class SubmissionApi(CodeGuessThrottled, APIView):
    """Upload a file with an upload code, or see the hand-in's state. The code is the only credential."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
        responses={
            201: HandInStateSerializer,
            400: _error("Not exactly one file in the multipart field `file`."),
            404: _error("Unknown upload code."),
            409: _error("`exam_closed`: the exam is closed."),
            413: _error("The file is larger than the limit (3 MiB by default)."),
            415: _error("The file's content is not an allowed type (PDF, ZIP/Office, PNG, JPEG, GIF, UTF-8 text)."),
            422: _error("`upload_limit_reached` after 5 uploads, or `empty_file`."),
            429: _THROTTLED,
            503: _error("`storage_unavailable`: nothing was stored, and no upload was used up."),
        },
    )
    def post(self, request: Request, upload_code: str) -> Response:
        services.handin_by_code(upload_code=upload_code)  # 404 before reading any of the body
        upload_limit_set(
            request=request, max_bytes=settings.HANDIN_MAX_BYTES, spool_bytes=SPOOL_IN_MEMORY_BYTES, md5=True
        )
        handin = services.submission_create(
            upload_code=upload_code, file=upload_file(request=request), now=timezone.now()
        )
        return Response(
            HandInStateSerializer(selectors.handin_with_last_upload(handin_id=handin.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(responses={200: HandInStateSerializer, 404: _error("Unknown upload code."), 429: _THROTTLED})
    def get(self, request: Request, upload_code: str) -> Response:
        handin = services.handin_by_code(upload_code=upload_code)
        return Response(HandInStateSerializer(selectors.handin_with_last_upload(handin_id=handin.pk)).data)


class VerificationDownloadUrlApi(CodeGuessThrottled, APIView):
    """A 10-minute download link for a handed-in file, for whoever holds its verification code."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        download_url = serializers.CharField()
        expires_seconds = serializers.IntegerField()

    @extend_schema(
        responses={
            200: OutputSerializer,
            404: _error("Unknown verification code, or the file has expired."),
            429: _THROTTLED,
        }
    )
    def get(self, request: Request, verification_code: str) -> Response:
        url = services.upload_download_url(verification_code=verification_code, now=timezone.now())
        if url.startswith("/"):  # the local-disk link of `make run`
            url = request.build_absolute_uri(url)
        return Response({"download_url": url, "expires_seconds": DOWNLOAD_EXPIRES_SECONDS})


def local_download_view(request: HttpRequest, token: str) -> FileResponse:
    """Serves a signed, expiring local link (FILE_STORAGE=local) as an attachment that is never sniffed."""
    try:
        handle, filename = local_link_open(token=token)
    except LookupError as exc:
        raise Http404("This link is unknown or has expired.") from exc
    response = FileResponse(handle, as_attachment=True, filename=filename, content_type="application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
