from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.common.pagination import PageNumberPagination, page_of
from core.common.permissions import IsPerson
from core.jobs import selectors
from core.jobs.serializers import JobSerializer


class JobDetailApi(APIView):
    # The starter may be a machine: an API key acts for its doctor, who started the job through it.
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=JobSerializer,
        description="A background job and its progress. Only its starter and admins see it; anyone else gets 404.",
    )
    def get(self, request: Request, job_id: int) -> Response:
        job = selectors.job_get(user=request.user, job_id=job_id)
        return Response(JobSerializer(job).data)


class JobsApi(APIView):
    permission_classes = [IsPerson]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "mine", int, enum=[0, 1], description="1: only the caller's jobs. Admins see everyone's without it."
            )
        ],
        responses=page_of(JobSerializer),
        operation_id="api_jobs_list",
        description="Background jobs, newest first. Doctors and students only ever see their own.",
    )
    def get(self, request: Request) -> Response:
        mine_param = request.query_params.get("mine", "0")
        if mine_param not in ("0", "1"):
            raise ValidationError({"mine": ["Must be 0 or 1."]})
        mine = mine_param == "1"
        jobs = selectors.job_list(user=request.user, mine=mine)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(JobSerializer(page, many=True).data)
