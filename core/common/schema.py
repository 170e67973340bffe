"""OpenAPI tweaks: unique names for the nested Input/Output serializers of each API class."""

from drf_spectacular.openapi import AutoSchema as _AutoSchema
from rest_framework.serializers import Serializer


class AutoSchema(_AutoSchema):
    def get_serializer_name(self, serializer: Serializer, direction: str) -> str:
        qualname = type(serializer).__qualname__
        if "." in qualname:  # StudentsApi.InputSerializer -> StudentsApiInput
            return qualname.replace(".", "").removesuffix("Serializer")
        return super().get_serializer_name(serializer, direction)
