from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.common.health import run_checks


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
