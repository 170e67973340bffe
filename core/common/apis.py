from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from rest_framework import serializers
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.common.clients import request_from_allowed
from core.common.health import run_checks
from core.common.metrics import registry_for_scrape


class RootApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses=inline_serializer("Welcome", {"message": serializers.CharField(), "docs": serializers.CharField()})
    )
    def get(self, request: Request) -> Response:
        return Response({"message": "Welcome to the exams platform API.", "docs": "/api/docs/"})


class HealthApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            (200, "application/json"): inline_serializer(
                "Health", {"status": serializers.CharField(), "checks": serializers.DictField()}
            ),
            (503, "application/json"): inline_serializer(
                "HealthDown", {"status": serializers.CharField(), "checks": serializers.DictField()}
            ),
        }
    )
    def get(self, request: Request) -> Response:
        checks = run_checks()
        up = all(state == "UP" for state in checks.values())
        return Response({"status": "UP" if up else "DOWN", "checks": checks}, status=200 if up else 503)


class FromMetricsAllowedAddress(BasePermission):
    message = "Metrics are served only to the addresses in METRICS_ALLOWED_IPS."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return request_from_allowed(request, settings.METRICS_ALLOWED_IPS)


class MetricsApi(APIView):
    """Prometheus's text format, for the addresses in METRICS_ALLOWED_IPS only (by address, not by token)."""

    authentication_classes: list = []
    permission_classes = [FromMetricsAllowedAddress]

    @extend_schema(
        responses={
            (200, "text/plain"): OpenApiResponse(str, description="Prometheus text exposition format 0.0.4."),
            (403, "application/json"): OpenApiResponse(
                inline_serializer(
                    "MetricsForbidden", {"error": serializers.CharField(), "detail": serializers.CharField()}
                ),
                description="The caller's address is not in METRICS_ALLOWED_IPS.",
            ),
        },
        description="Every metric of this host's web instances and Celery worker (docs/observability.md). "
        "Answered only to the addresses in METRICS_ALLOWED_IPS (default: loopback).",
    )
    def get(self, request: Request) -> HttpResponse:
        registry = registry_for_scrape() or REGISTRY
        return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
