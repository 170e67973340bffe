from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.utils.cache import patch_vary_headers
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


def wants_html(request: HttpRequest) -> bool:
    """A browser names text/html in its Accept header; API clients (JSON, */*, none) do not."""
    for item in request.META.get("HTTP_ACCEPT", "").split(","):
        media_type, _, params = item.partition(";")
        if media_type.strip().lower() == "text/html" and params.replace(" ", "") not in ("q=0", "q=0.0"):
            return True
    return False


class RootApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # Before DRF's content negotiation, which would answer a plain `Accept: text/html` with 406.
        if request.method in ("GET", "HEAD") and wants_html(request):
            response: HttpResponseBase = HttpResponseRedirect("/app/")
        else:
            response = super().dispatch(request, *args, **kwargs)
        patch_vary_headers(response, ["Accept"])
        return response

    @extend_schema(
        responses={
            200: inline_serializer("Welcome", {"message": serializers.CharField(), "docs": serializers.CharField()}),
            302: OpenApiResponse(description="A browser (Accept: text/html) is sent to the student site, /app/."),
        }
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
