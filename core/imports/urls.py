from django.contrib import admin
from django.urls import path

from core.imports import apis
from core.imports.admin_views import import_start_view

urlpatterns = [
    path("api/imports", apis.ImportsApi.as_view(), name="imports"),
    path("imports/new", admin.site.admin_view(import_start_view), name="imports-admin-start"),
]
