"""People, levels, subjects and API keys in the admin.

Scoping (docs/product.md rule 7): an admin sees everything; a doctor sees the subjects they teach, the levels their
exams are offered to, the students of those levels, and their own keys. Only an admin changes a student's email,
level or active flag, and only an admin assigns an existing subject to a doctor."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from core.accounts.authentication import request_user
from core.accounts.models import ApiKey, Doctor, Level, Role, Student, Subject, User
from core.accounts.selectors import levels_visible_to, students_visible_to, subjects_visible_to
from core.accounts.services import doctor_create, user_sessions_end
from core.accounts.throttles import LoginThrottled, login_failed, login_guard, login_succeeded, normalized_email
from core.common.admin import RoleScopedAdmin

VIEW_ADD_CHANGE = frozenset({"view", "add", "change"})


@admin.action(description="Log out everywhere (end every session now)", permissions=["change"])
def sessions_end(modeladmin, request, queryset) -> None:
    for user_id in queryset.values_list("pk", flat=True):
        user_sessions_end(user_id=user_id)


def role_flags_check(*, role: str, is_staff: bool, is_superuser: bool) -> dict[str, str]:
    """Why these flags contradict the role, by field: doctors and admins use the admin (staff) and students do not;
    only an admin may be a superuser."""
    problems: dict[str, str] = {}
    if is_staff != (role in (Role.DOCTOR, Role.ADMIN)):
        problems["is_staff"] = "Doctors and admins are staff; students are not."
    if is_superuser and role != Role.ADMIN:
        problems["is_superuser"] = "Only an admin may be a superuser."
    return problems


class UserChangeForm(auth_forms.UserChangeForm):
    class Meta:  # auth_forms.UserChangeForm.Meta adds only a field class for `username`, which User has not
        model = User
        fields = (
            "email",
            "password",
            "role",
            "full_name",
            "student_number",
            "level",
            "is_active",
            "is_staff",
            "is_superuser",
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "role" in data:
            problems = role_flags_check(
                role=data["role"], is_staff=bool(data.get("is_staff")), is_superuser=bool(data.get("is_superuser"))
            )
            for field, problem in problems.items():
                self.add_error(field if field in self.fields else None, problem)
            if data["role"] == Role.STUDENT and not data.get("student_number"):
                self.add_error("student_number", "A student needs a student number.")
        return data


@admin.register(User)
class UserAdmin(RoleScopedAdmin, DjangoUserAdmin):
    form = UserChangeForm
    ordering = ("id",)
    list_display = ("id", "email", "role", "full_name", "student_number", "is_active", "is_staff")
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

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if not change:  # a new user's flags follow their role
            obj.is_staff = obj.role in (Role.DOCTOR, Role.ADMIN)
        super().save_model(request, obj, form, change)


class StudentForm(forms.ModelForm):
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Optional: without one, the student cannot sign in until staff set a password.",
    )

    class Meta:
        model = Student
        fields = ("student_number", "full_name", "email", "level", "is_active")

    def clean_password(self) -> str:
        password = self.cleaned_data.get("password") or ""
        if password:
            validate_password(password, self.instance)
        return password


@admin.register(Student)
class StudentAdmin(RoleScopedAdmin):
    """Students. A doctor sees the students of their exams' levels, adds students, renames them and sets their
    passwords; only an admin changes a student's email, level or active flag."""

    doctor_can = VIEW_ADD_CHANGE
    form = StudentForm
    list_display = ("student_number", "full_name", "email", "level", "is_active")
    list_filter = (("level", admin.RelatedOnlyFieldListFilter),)  # only the levels of the students listed
    search_fields = ("student_number", "full_name", "email")
    list_select_related = ("level",)
    actions = (sessions_end,)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = ("student_number", "full_name", "email", "level", "is_active", "set_password")
        return fields if obj is not None else (*fields[:-1], "password")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return ("set_password",) if self.is_admin(request) else ("email", "level", "is_active", "set_password")

    @admin.display(description="password")
    def set_password(self, student: User) -> str:
        url = reverse("admin:accounts_student_password", args=[student.pk])
        state = "set" if student.has_usable_password() else "not set: the student cannot sign in"
        return format_html('{} &middot; <a href="{}">Set a password</a>', state, url)

    def doctor_queryset(self, request: HttpRequest, queryset: QuerySet[Student]) -> QuerySet[Student]:
        return queryset.filter(pk__in=students_visible_to(user=request_user(request)).values("pk"))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "level":
            kwargs["queryset"] = levels_visible_to(user=request_user(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        obj.role, obj.is_staff, obj.is_superuser = Role.STUDENT, False, False
        if not change:
            password = form.cleaned_data.get("password")
            if password:
                obj.set_password(password)
            else:
                obj.set_unusable_password()
        super().save_model(request, obj, form, change)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.password_view)
        return [path("<int:student_id>/password/", view, name="accounts_student_password"), *super().get_urls()]

    def password_view(self, request: HttpRequest, student_id: int) -> HttpResponse:
        """Staff set a student's password (a doctor: a student they can see)."""
        student = self.get_queryset(request).filter(pk=student_id).first()
        if student is None or not self.has_change_permission(request, student):
            raise Http404("No such student.")
        form = AdminPasswordChangeForm(student, request.POST or None)
        if request.method == "POST" and form.is_valid():
            form.save()
            self.message_user(request, f"The password of {student} is set.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:accounts_student_change", args=[student.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Set the password of {student}",
            "form": form,
            "student": student,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/accounts/student/password.html", context)


class DoctorForm(forms.ModelForm):
    """A doctor with their subjects; on creation also a password (the API's POST /api/doctors, in the admin)."""

    subjects = forms.ModelMultipleChoiceField(
        queryset=Subject.objects.all(),
        required=False,
        widget=FilteredSelectMultiple("subjects", is_stacked=False),
        help_text="The subjects this doctor teaches: they see and write their grades and put exams in them.",
    )
    password1 = forms.CharField(
        label="Password", required=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="Password again", required=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    class Meta:
        model = Doctor
        fields = ("email", "full_name", "is_active")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        if self.instance.pk:
            self.initial["subjects"] = list(self.instance.subjects.values_list("pk", flat=True))
            del self.fields["password1"], self.fields["password2"]
        else:
            self.fields["password1"].required = self.fields["password2"].required = True

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.instance.pk and data.get("password1"):
            if data["password1"] != data.get("password2"):
                self.add_error("password2", "The two passwords differ.")
            else:
                try:
                    validate_password(data["password1"])
                except ValidationError as problems:
                    self.add_error("password1", problems)
        return data


@admin.register(Doctor)
class DoctorAdmin(RoleScopedAdmin):
    """Admins add doctors (with a password and subjects) and assign subjects to them."""

    form = DoctorForm
    list_display = ("email", "full_name", "taught_subjects", "is_active")
    search_fields = ("email", "full_name")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = ("email", "full_name", "is_active", "subjects")
        return fields if obj is not None else (*fields, "password1", "password2")

    @admin.display(description="subjects")
    def taught_subjects(self, doctor: User) -> str:
        return ", ".join(doctor.subjects.values_list("name", flat=True))

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if not change:  # through the service that POST /api/doctors uses
            doctor = doctor_create(
                email=data["email"],
                full_name=data.get("full_name") or "",
                password=data["password1"],
                subjects=[subject.name for subject in data.get("subjects") or []],
            )
            obj.pk, obj.password, obj._state.adding = doctor.pk, doctor.password, False
            if not data.get("is_active", True):
                User.objects.filter(pk=doctor.pk).update(is_active=False)
            return
        obj.role, obj.is_staff, obj.is_superuser = Role.DOCTOR, True, False
        super().save_model(request, obj, form, change)
        obj.subjects.set(data.get("subjects") or [])


@admin.register(Level)
class LevelAdmin(RoleScopedAdmin):
    """Levels; a doctor sees the levels that their exams are offered to."""

    doctor_can = frozenset({"view", "add"})
    search_fields = ("name",)

    def doctor_queryset(self, request: HttpRequest, queryset: QuerySet[Level]) -> QuerySet[Level]:
        return queryset.filter(pk__in=levels_visible_to(user=request_user(request)).values("pk"))


@admin.register(Subject)
class SubjectAdmin(RoleScopedAdmin):
    """Subjects. A doctor sees the ones they teach and adds new ones (which they then teach); only an admin
    renames a subject or assigns it to doctors."""

    doctor_can = frozenset({"view", "add"})
    list_display = ("name", "taught_by")
    search_fields = ("name",)
    filter_horizontal = ("doctors",)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("name", "doctors") if self.is_admin(request) else ("name",)

    @admin.display(description="doctors")
    def taught_by(self, subject: Subject) -> str:
        return ", ".join(str(doctor) for doctor in subject.doctors.all())

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subject]:
        return super().get_queryset(request).prefetch_related("doctors")

    def doctor_queryset(self, request: HttpRequest, queryset: QuerySet[Subject]) -> QuerySet[Subject]:
        return queryset.filter(pk__in=subjects_visible_to(user=request_user(request)).values("pk"))

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "doctors":
            kwargs["queryset"] = User.objects.filter(role=Role.DOCTOR)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Subject, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if self.is_doctor(request) and not change:  # a doctor who names a new subject teaches it
            obj.doctors.add(request_user(request))


@admin.register(ApiKey)
class ApiKeyAdmin(RoleScopedAdmin):
    """Keys are made through the API (where the key is shown once); here they are listed and revoked."""

    doctor_can = frozenset({"view", "change"})
    list_display = ("name", "prefix", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    readonly_fields = ("name", "prefix", "user", "created_at", "last_used_at", "revoked_at")
    exclude = ("key_hash",)
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def doctor_queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        return queryset.filter(user=request_user(request))

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


class ThrottledAdminLoginForm(AdminAuthenticationForm):
    """The admin's login, under the same failure throttle as the API's (core/accounts/throttles.py)."""

    def clean(self) -> dict:
        request = cast(HttpRequest, self.request)  # the admin's login view always passes it
        email = normalized_email(self.data.get("username"))
        try:
            login_guard(request=request, email=email)
        except LoginThrottled as exc:
            raise forms.ValidationError(str(exc), code="throttled") from exc
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if self.get_user() is None:  # a wrong email or password; a right one without admin access is not
                login_failed(request=request, email=email)
            raise
        request.device_cookie = login_succeeded(request=request, email=email)  # type: ignore[attr-defined]
        return cleaned


class StaffOnlyLoginForm(ThrottledAdminLoginForm):
    """The throttled login above, telling a student where to go instead of "not a staff account"."""

    def confirm_login_allowed(self, user: Any) -> None:
        if getattr(user, "role", None) == Role.STUDENT:
            raise ValidationError(
                "This site is for doctors and admins. Students take their exams on the student site at "
                f"{settings.STUDENT_SITE_URL}",
                code="student",
            )
        super().confirm_login_allowed(user)


admin.site.login_form = StaffOnlyLoginForm
