from functools import cache
from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination as _PageNumberPagination


class PageNumberPagination(_PageNumberPagination):
    """`?page=` pages of `{"count", "next", "previous", "results"}`; `?page_size=` up to 500."""

    page_size_query_param = "page_size"
    max_page_size = 500


@cache
def page_of(item: Any) -> serializers.Serializer:
    """The OpenAPI shape of one page of `item` (a serializer class, or a `many=True` serializer such as a
    PolymorphicProxySerializer), for APIViews that paginate by hand."""
    if isinstance(item, type):
        name, results = item.__qualname__.replace(".", "").removesuffix("Serializer"), item(many=True)
    else:
        name, results = getattr(item, "child", item).component_name, item
    return inline_serializer(
        f"Paginated{name}List",
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": results,
        },
    )


class PageQuerySerializer(serializers.Serializer):
    """The query of a paginated list, checked (400) rather than ignored; list views add their own filters.
    Use it as the view's `parameters` so that the schema states the same limits."""

    page = serializers.IntegerField(required=False, min_value=1, help_text="A page number, from 1.")
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=PageNumberPagination.max_page_size, help_text="Items per page."
    )

    def to_internal_value(self, data: Any) -> Any:
        names: list[str] = list(self.fields)
        repeated = [name for name in names if hasattr(data, "getlist") and len(data.getlist(name)) > 1]
        if repeated:
            raise serializers.ValidationError({name: ["Give this parameter once."] for name in repeated})
        return super().to_internal_value(data)
