from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from core.accounts.models import ApiKey, Role, User

# Writing last_used_at on every request would turn each authenticated read into a write.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=5)


def api_key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_key_authenticate(*, raw: str) -> ApiKey | None:
    key = (
        ApiKey.objects.select_related("user")
        .filter(key_hash=api_key_hash(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > API_KEY_TOUCH_INTERVAL:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def api_key_list(*, user: User) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.filter(revoked_at__isnull=True)
    return keys if user.role == Role.ADMIN else keys.filter(user=user)


def student_list(*, level: str | None = None, search: str | None = None) -> QuerySet[User]:
    students = User.objects.filter(role=Role.STUDENT).select_related("level").order_by("student_number")
    if level:
        students = students.filter(level__name=level)
    if search:
        students = students.filter(
            Q(student_number__icontains=search) | Q(full_name__icontains=search) | Q(email__icontains=search)
        )
    return students
