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
