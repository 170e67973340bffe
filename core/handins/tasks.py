from celery import shared_task

from core.handins.storage import FileStoreDown


@shared_task(acks_late=True, autoretry_for=(FileStoreDown,), retry_backoff=True, max_retries=8)
def handins_expire_task() -> int:
    """Periodic (beat): delete hand-in files past retention; their metadata stays, marked expired."""
    from django.utils import timezone

    from core.handins.services import uploads_expire

    return uploads_expire(now=timezone.now())
