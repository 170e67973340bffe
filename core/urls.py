from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

handler404 = "core.common.errors.handler404"
handler500 = "core.common.errors.handler500"

# Django tries the patterns in order, so the two families called in tight loops come right after the three
# of core.common: the students' answer saves and the Markr API (each prefix is its own: no match changes).
urlpatterns = [
    path("", include("core.common.urls")),
    path("", include("core.exams.urls")),
    path("", include("core.gradebook.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("", include("core.accounts.urls")),
    path("", include("core.jobs.urls")),
    path("", include("core.grading.urls")),
    path("", include("core.imports.urls")),
    path("", include("core.handins.urls")),
    path("", include("core.site.urls")),
]
