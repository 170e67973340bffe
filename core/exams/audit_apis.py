"""GET /api/audit: the audit record (docs/product.md rule 11) of the exams the caller may manage. It lives with the
exams because the audit app sits below the apps that know who owns an exam (docs/decisions)."""

from __future__ import annotations

from typing import cast

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.accounts.models import User
from core.common.pagination import PageNumberPagination, PageQuerySerializer, page_of
from core.common.permissions import IsDoctorOrAdmin
from core.exams import selectors

ERROR = inline_serializer(
    "AuditError",
    {
        "error": serializers.CharField(),
        "detail": serializers.CharField(),
        "fields": serializers.DictField(required=False),
    },
)


class AuditRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    actor = serializers.CharField(help_text='Who acted (their email), or "system" for a periodic task.')
    action = serializers.CharField(help_text="What happened, for example degree.overridden or exam.graded.")
    exam = serializers.IntegerField(source="exam_id", allow_null=True, help_text="The exam's id.")
    exam_code = serializers.CharField(source="exam", help_text="The exam's code when the record was made.")
    detail = serializers.DictField(help_text="What changed, and why when a reason was given.")


class AuditApi(APIView):
    permission_classes = [IsDoctorOrAdmin]

    class QuerySerializer(PageQuerySerializer):
        exam = serializers.IntegerField(
            required=False, min_value=1, max_value=2**63 - 1, help_text="Only this exam's records (404 if not yours)."
        )

    @extend_schema(
        parameters=[QuerySerializer],
        responses={
            200: page_of(AuditRecordSerializer),
            **{
                code: OpenApiResponse(ERROR, description=text)
                for code, text in (
                    (400, "A malformed exam id, page or page size."),
                    (401, "Not authenticated."),
                    (403, "Not a doctor or admin."),
                    (404, "An exam the caller may not see, or no such page."),
                )
            },
        },
        description="Who changed what and when, newest first: key corrections, edits, status and release "
        "changes, accommodations, overrides, reopens and gradings, each with its actor, time and detail. A doctor "
        "(or their API key) reads the records of their own exams, an admin every record. Append-only: nothing "
        "here is ever edited or deleted.",
    )
    def get(self, request: Request) -> Response:
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        records = selectors.audit_records_for(user=cast(User, request.user), exam_id=query.validated_data.get("exam"))
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(records, request, view=self)
        return paginator.get_paginated_response(AuditRecordSerializer(page, many=True).data)
