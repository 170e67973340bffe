from django.contrib import admin
from import_export.admin import ImportExportModelAdmin
from import_export.formats.base_formats import CSV, XLSX

from core.common.models import ErrorLog


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


class RoleScopedImportExportAdmin(ImportExportModelAdmin, RoleScopedAdmin):
    """CSV/XLSX import and export (django-import-export) under the same role rules: importing is adding,
    exporting is viewing. The resource is told who imports, so it can apply that person's scope."""

    formats = (CSV, XLSX)

    def has_import_permission(self, request) -> bool:
        return self._may(request, "add")

    def has_export_permission(self, request) -> bool:
        return self._may(request, "view")

    def get_import_resource_kwargs(self, request, **kwargs):
        return {**super().get_import_resource_kwargs(request, **kwargs), "user": request.user}
