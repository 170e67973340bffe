from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.http import require_GET


def explode(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom for the error log")


@require_GET
def plain_get_only(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [
    path("explode", explode),
    path("plain", plain_get_only),
    path("", include("core.urls")),
]
