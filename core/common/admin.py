from typing import Any

import tablib
from botocore.exceptions import ClientError
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from import_export.admin import ImportExportModelAdmin
from import_export.formats.base_formats import CSV, XLSX

from core.common.models import ErrorLog
from core.common.spreadsheets import formula_escaped, xlsx_bytes

# The platform's name in the admin's header, and "View site" goes to the student site.
admin.site.site_header = settings.PLATFORM_NAME
admin.site.site_title = settings.PLATFORM_NAME
admin.site.index_title = "Exams, grades and people"
admin.site.site_url = settings.STUDENT_SITE_URL


@admin.register(ErrorLog)
class ErrorLogAdmin(admin.ModelAdmin):
    list_display = ("created_at", "method", "path", "exception", "request_id")
    list_filter = ("method",)
    search_fields = ("path", "exception", "request_id")
    readonly_fields = ("created_at", "method", "path", "request_id", "exception", "traceback")

    def has_add_permission(self, request) -> bool:
        return False


class RoleScopedAdmin(admin.ModelAdmin):
    """Admins may do everything. Doctors may do what `doctor_can` lists, on the rows that
    `doctor_queryset` leaves them, which by default are all rows: override it to scope to the owner."""

    doctor_can: frozenset[str] = frozenset()

    @staticmethod
    def is_admin(request) -> bool:
        return request.user.is_active and (request.user.is_superuser or getattr(request.user, "role", None) == "admin")

    @staticmethod
    def is_doctor(request) -> bool:
        return request.user.is_active and getattr(request.user, "role", None) == "doctor"

    def _may(self, request, action: str) -> bool:
        return self.is_admin(request) or (self.is_doctor(request) and action in self.doctor_can)

    def has_module_permission(self, request) -> bool:
        return self._may(request, "view")

    def has_view_permission(self, request, obj=None) -> bool:
        return self._may(request, "view") or self._may(request, "change")

    def has_add_permission(self, request) -> bool:
        return self._may(request, "add")

    def has_change_permission(self, request, obj=None) -> bool:
        return self._may(request, "change")

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._may(request, "delete")

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self.is_admin(request):
            return queryset
        return self.doctor_queryset(request, queryset)

    def doctor_queryset(self, request, queryset):
        return queryset


class EscapedCSV(CSV):
    """CSV whose text cells cannot run as formulas (core.common.spreadsheets), instead of import-export's own
    escaping, which only drops a leading "=" (and leaves "+", "-" and "@" formulas alive)."""

    def export_data(self, dataset: Any, **kwargs: Any) -> Any:
        escaped = tablib.Dataset(headers=dataset.headers)
        for row in dataset:
            escaped.append([formula_escaped(value) for value in row])
        return escaped.export("csv", **kwargs)


class TextXLSX(XLSX):
    """XLSX whose text cells are text cells, never formulas (core.common.spreadsheets)."""

    def export_data(self, dataset: Any, **kwargs: Any) -> Any:
        return xlsx_bytes(title=dataset.title or "export", columns=dataset.headers or [], rows=dataset)


class RoleScopedImportExportAdmin(ImportExportModelAdmin, RoleScopedAdmin):
    """CSV/XLSX import and export (django-import-export) under the same role rules: importing is adding,
    exporting is viewing. The resource is told who imports, so it can apply that person's scope.

    The file between "preview" and "confirm" is kept in the shared file store (settings.
    IMPORT_EXPORT_TMP_STORAGE_CLASS), so the two may land on different web instances; a second "confirm" of the
    same file (a double click, a reload) finds it gone and says so, instead of failing."""

    formats = (EscapedCSV, TextXLSX)

    def process_import(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        try:
            with transaction.atomic():
                return super().process_import(request, **kwargs)
        except FileNotFoundError:
            pass
        except ClientError as error:  # S3 answers a missing key with a 404 error
            if str(error.response.get("Error", {}).get("Code")) not in ("404", "NoSuchKey"):
                raise
        self.message_user(
            request,
            "This import was already confirmed (or its file has expired): nothing more was imported.",
            messages.WARNING,
        )
        return HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"))

    def has_import_permission(self, request) -> bool:
        return self._may(request, "add")

    def has_export_permission(self, request) -> bool:
        return self._may(request, "view")

    def get_import_resource_kwargs(self, request, **kwargs):
        return {**super().get_import_resource_kwargs(request, **kwargs), "user": request.user}
