from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from core.accounts.validators import validate_student_number


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    DOCTOR = "doctor", "Doctor"
    STUDENT = "student", "Student"


class Level(models.Model):
    """A cohort, such as "Year 1". An exam is offered to one level."""

    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Subject(models.Model):
    """A course, such as "Math". Doctors own subjects."""

    name = models.CharField(max_length=100, unique=True)
    doctors = models.ManyToManyField("accounts.User", related_name="subjects", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str | None = None, password: str | None = None, **fields: Any) -> User:
        user = self.model(email=self.normalize_email(email).lower() if email else None, **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.update(role=Role.ADMIN, is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Logs in by email. A student may exist without an email or a usable password
    (imports create students from a number and a name)."""

    email = models.EmailField(unique=True, null=True, blank=True)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.STUDENT, db_index=True)
    full_name = models.CharField(max_length=200, blank=True)
    # A string, so that leading zeros are kept ("002299").
    student_number = models.CharField(
        max_length=64, unique=True, null=True, blank=True, validators=[validate_student_number]
    )
    level = models.ForeignKey(Level, null=True, blank=True, on_delete=models.PROTECT, related_name="students")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
            models.CheckConstraint(
                condition=~models.Q(role="student") | models.Q(student_number__isnull=False),
                name="accounts_student_has_number",
            ),
        ]

    def __str__(self) -> str:
        if self.role == Role.STUDENT:
            return f"{self.student_number} {self.full_name}".strip()
        return self.email or self.full_name


class StudentManager(UserManager):
    def get_queryset(self) -> models.QuerySet[User]:
        return super().get_queryset().filter(role=Role.STUDENT)


class DoctorManager(UserManager):
    def get_queryset(self) -> models.QuerySet[User]:
        return super().get_queryset().filter(role=Role.DOCTOR)


class Student(User):
    objects: ClassVar[StudentManager] = StudentManager()

    class Meta:
        proxy = True
        ordering = ["student_number"]


class Doctor(User):
    objects: ClassVar[DoctorManager] = DoctorManager()

    class Meta:
        proxy = True
        ordering = ["email"]


class ApiKey(models.Model):
    """A machine's secret, acting for the doctor who made it. Only a SHA-256 of the key is kept:
    keys are 256-bit random, so a fast hash is safe and keeps the per-request check cheap."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    # Lets permissions tell a machine from a person without importing this app.
    is_api_key = True
