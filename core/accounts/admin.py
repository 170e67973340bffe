from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils import timezone

from core.accounts.models import ApiKey, Doctor, Level, Role, Student, Subject, User
from core.accounts.services import user_sessions_end
from core.accounts.throttles import LoginThrottled, login_failed, login_guard, login_succeeded, normalized_email
from core.common.admin import RoleScopedAdmin

VIEW_ADD_CHANGE = frozenset({"view", "add", "change"})


@admin.action(description="Log out everywhere (end every session now)", permissions=["change"])
def sessions_end(modeladmin, request, queryset) -> None:
    for user_id in queryset.values_list("pk", flat=True):
        user_sessions_end(user_id=user_id)


@admin.register(User)
class UserAdmin(RoleScopedAdmin, DjangoUserAdmin):
    ordering = ("id",)
    list_display = ("id", "email", "role", "full_name", "student_number", "is_active")
    list_filter = ("role", "is_active", "level")
    search_fields = ("email", "full_name", "student_number")
    fieldsets = (
        (None, {"fields": ("email", "password", "role")}),
        ("Person", {"fields": ("full_name", "student_number", "level")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "role", "full_name", "password1", "password2")}),
    )
    filter_horizontal = ()
    actions = (sessions_end,)


@admin.register(Student)
class StudentAdmin(RoleScopedAdmin):
    doctor_can = VIEW_ADD_CHANGE
    list_display = ("student_number", "full_name", "email", "level", "is_active")
    list_filter = ("level",)
    search_fields = ("student_number", "full_name", "email")
    actions = (sessions_end,)
    fields = ("student_number", "full_name", "email", "level", "is_active")

    def save_model(self, request, obj, form, change) -> None:
        obj.role = Role.STUDENT
        if not change:
            obj.set_unusable_password()
        super().save_model(request, obj, form, change)


@admin.register(Doctor)
class DoctorAdmin(RoleScopedAdmin):
    list_display = ("email", "full_name", "is_active")
    search_fields = ("email", "full_name")
    fields = ("email", "full_name", "is_active")

    def save_model(self, request, obj, form, change) -> None:
        obj.role, obj.is_staff = Role.DOCTOR, True
        if not change:
            obj.set_unusable_password()
        super().save_model(request, obj, form, change)


@admin.register(Level)
class LevelAdmin(RoleScopedAdmin):
    doctor_can = frozenset({"view", "add"})
    search_fields = ("name",)


@admin.register(Subject)
class SubjectAdmin(RoleScopedAdmin):
    doctor_can = VIEW_ADD_CHANGE
    list_display = ("name",)
    search_fields = ("name",)
    filter_horizontal = ("doctors",)

    def get_fields(self, request, obj=None):
        return ("name", "doctors") if self.is_admin(request) else ("name",)

    def doctor_queryset(self, request, queryset):
        return queryset.filter(doctors=request.user)

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if self.is_doctor(request):
            obj.doctors.add(request.user)


@admin.register(ApiKey)
class ApiKeyAdmin(RoleScopedAdmin):
    """Keys are made through the API (where the key is shown once); here they are listed and revoked."""

    doctor_can = frozenset({"view", "change"})
    list_display = ("name", "prefix", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    readonly_fields = ("name", "prefix", "user", "created_at", "last_used_at", "revoked_at")
    exclude = ("key_hash",)
    actions = ("revoke",)

    def has_add_permission(self, request) -> bool:
        return False

    def doctor_queryset(self, request, queryset):
        return queryset.filter(user=request.user)

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset) -> None:
        queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


class ThrottledAdminLoginForm(AdminAuthenticationForm):
    """The admin's login, under the same failure throttle as the API's (core/accounts/throttles.py)."""

    def clean(self) -> dict:
        email = normalized_email(self.data.get("username"))
        try:
            login_guard(request=self.request, email=email)
        except LoginThrottled as exc:
            raise forms.ValidationError(str(exc), code="throttled") from exc
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if self.get_user() is None:  # a wrong email or password; a right one without admin access is not
                login_failed(request=self.request, email=email)
            raise
        self.request.device_cookie = login_succeeded(request=self.request, email=email)
        return cleaned


admin.site.login_form = ThrottledAdminLoginForm
