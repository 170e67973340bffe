from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.accounts.authentication import request_user
from core.common.permissions import IsDoctorOrAdmin
from core.common.uploads import upload_file, upload_limit_set
from core.imports import services
from core.jobs.serializers import JobSerializer, job_payload

# Files up to this size stay in memory while they arrive; larger ones spill to a temporary file.
SPOOL_IN_MEMORY_BYTES = 2 * 1024 * 1024


class ImportsApi(APIView):
    """Start a background import of a grade file. The answer comes once the file is stored; follow the job
    at GET /api/jobs/{id}."""

    permission_classes = [IsDoctorOrAdmin]
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=list(services.IMPORT_KINDS))
        exam = serializers.IntegerField(required=False, min_value=1)

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "CSV (UTF-8) or XLSX; XML for markr"},
                    "kind": {"type": "string", "enum": list(services.IMPORT_KINDS)},
                    "exam": {"type": "integer", "description": "The exam, for `degrees` only."},
                },
                "required": ["file", "kind"],
            }
        },
        responses={
            202: inline_serializer("ImportStarted", {"job": JobSerializer()}),
            400: OpenApiResponse(description="A missing or malformed field, or not exactly one file."),
            404: OpenApiResponse(description="`exam` is not an exam you manage."),
            409: OpenApiResponse(description="`exam_not_importable`: degrees cannot be imported into an online exam."),
            413: OpenApiResponse(description="The file is above the configured size (200 MB by default)."),
            415: OpenApiResponse(description="A wrong file type: CSV or XLSX for grades, XML for markr."),
            422: OpenApiResponse(description="`not_utf8`: a CSV that is not UTF-8; `exam` missing for degrees."),
            503: OpenApiResponse(description="The file store is down; nothing was queued."),
        },
    )
    def post(self, request: Request) -> Response:
        upload_limit_set(request=request, max_bytes=settings.IMPORT_MAX_BYTES, spool_bytes=SPOOL_IN_MEMORY_BYTES)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        file = upload_file(request=request)
        job = services.import_start(
            user=request_user(request),
            kind=data.validated_data["kind"],
            file=file,
            file_name=file.name or "",
            exam_id=data.validated_data.get("exam"),
        )
        return Response({"job": job_payload(job)}, status=status.HTTP_202_ACCEPTED)
