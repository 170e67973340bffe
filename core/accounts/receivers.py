"""A user's sessions end when the user is deactivated, deleted or changes password, however that happens
(services, the admin, a shell): these receivers call `user_sessions_end` (core/accounts/revocation.py).
A bulk `QuerySet.update()` sends no signal: code that deactivates in bulk calls the service itself."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from core.accounts.models import User
from core.accounts.services import user_sessions_end

_ENDS_SESSIONS = "_sessions_end_on_save"


@receiver(pre_save, dispatch_uid="accounts.user_sessions_watch")
def _watch(sender: type, instance: Any, **_: object) -> None:
    if not isinstance(instance, User) or instance.pk is None:
        return
    before = User.objects.filter(pk=instance.pk).values("is_active", "password").first()
    if before is None:
        return
    deactivated = before["is_active"] and not instance.is_active
    setattr(instance, _ENDS_SESSIONS, deactivated or before["password"] != instance.password)


@receiver(post_save, dispatch_uid="accounts.user_sessions_end_on_save")
def _end_on_save(sender: type, instance: Any, created: bool, **_: object) -> None:
    if isinstance(instance, User) and not created and getattr(instance, _ENDS_SESSIONS, False):
        setattr(instance, _ENDS_SESSIONS, False)
        user_sessions_end(user_id=instance.pk)


@receiver(post_delete, dispatch_uid="accounts.user_sessions_end_on_delete")
def _end_on_delete(sender: type, instance: Any, **_: object) -> None:
    if isinstance(instance, User):
        user_sessions_end(user_id=instance.pk, blacklist=False)
