"""The audit record in the admin: read-only, for admins (a doctor reads their exams' records at /api/audit)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from core.audit.models import AuditRecord
from core.common.permissions import ADMIN


def _is_admin(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and (user.is_superuser or getattr(user, "role", None) == ADMIN))


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
    list_display = ("at", "actor", "action", "exam", "detail")
    list_filter = ("action",)
    search_fields = ("actor", "action", "exam")
    date_hierarchy = "at"
    ordering = ("-at", "-id")
    readonly_fields = ("at", "actor_id", "actor", "action", "exam_id", "exam", "detail")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_admin(request)

    # Append-only (docs/product.md vocabulary): nobody adds, changes or deletes a record here.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
