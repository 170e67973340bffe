from rest_framework.pagination import PageNumberPagination as _PageNumberPagination


class PageNumberPagination(_PageNumberPagination):
    """`?page=` pages of `{"count", "next", "previous", "results"}`; `?page_size=` up to 500."""

    page_size_query_param = "page_size"
    max_page_size = 500
