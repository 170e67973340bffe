from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.accounts.models import ApiKey, Level, Role, Subject, User
from core.common.statements import Statement

# Writing last_used_at on every request would turn each authenticated read into a write.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=5)


def api_key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _api_key_with_user(*, key_hash: str) -> list[ApiKey]:
    live = ApiKey.objects.filter(key_hash=key_hash, revoked_at__isnull=True, user__is_active=True)
    return list(live.select_related("user").order_by()[:1])  # key_hash is unique: no sort for the model's ordering


# Checked on every Markr API call: the query is compiled once per process (core/common/statements.py).
_api_key_lookup = Statement(_api_key_with_user, key_hash="probe: not a sha-256")
_KEY_COLUMNS = [field.attname for field in ApiKey._meta.concrete_fields]
_USER_COLUMNS = [field.attname for field in User._meta.concrete_fields]


def api_key_authenticate(*, raw: str) -> ApiKey | None:
    """The live key with this secret, its (active) user loaded with it; None for anything else."""
    row = _api_key_lookup.fetchone(key_hash=api_key_hash(raw))
    if row is None:
        return None
    if len(row) != len(_KEY_COLUMNS) + len(_USER_COLUMNS):  # select_related's columns: the key's, then the user's
        raise AssertionError(f"unexpected API key row of {len(row)} columns")
    key = ApiKey.from_db(DEFAULT_DB_ALIAS, _KEY_COLUMNS, row[: len(_KEY_COLUMNS)])
    key.user = User.from_db(DEFAULT_DB_ALIAS, _USER_COLUMNS, row[len(_KEY_COLUMNS) :])
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > API_KEY_TOUCH_INTERVAL:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def api_key_list(*, user: User) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.filter(revoked_at__isnull=True)
    return keys if user.role == Role.ADMIN else keys.filter(user=user)


def student_list(*, user: User, level: str | None = None, search: str | None = None) -> QuerySet[User]:
    """GET /api/students: the students `user` may see (students_visible_to: an admin's all, a doctor's those of
    the levels their exams are offered to, docs/product.md rule 7), by level name and a search."""
    students = students_visible_to(user=user).select_related("level").order_by("student_number")
    if level:
        students = students.filter(level__name=level)
    if search:
        students = students.filter(
            Q(student_number__icontains=search) | Q(full_name__icontains=search) | Q(email__icontains=search)
        )
    return students


def levels_visible_to(*, user: User) -> QuerySet[Level]:
    """Every level for an admin; for a doctor, the levels that their exams are offered to (looked up through the
    exams' reverse relation, so this app needs no import of the exams app); none for anyone else."""
    if user.is_superuser or user.role == Role.ADMIN:
        return Level.objects.all()
    if user.role == Role.DOCTOR:
        return Level.objects.filter(exams__owner=user).distinct()
    return Level.objects.none()


def students_visible_to(*, user: User) -> QuerySet[User]:
    """Every student for an admin; for a doctor, the students of the levels their exams are offered to."""
    students = User.objects.filter(role=Role.STUDENT)
    if user.is_superuser or user.role == Role.ADMIN:
        return students
    if user.role == Role.DOCTOR:
        return students.filter(level__in=levels_visible_to(user=user))
    return students.none()


def subjects_visible_to(*, user: User) -> QuerySet[Subject]:
    """Every subject for an admin; the subjects a doctor teaches; none for anyone else."""
    if user.is_superuser or user.role == Role.ADMIN:
        return Subject.objects.all()
    if user.role == Role.DOCTOR:
        return Subject.objects.filter(doctors=user)
    return Subject.objects.none()
