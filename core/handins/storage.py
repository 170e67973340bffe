"""The file store behind hand-ins: Django's default storage (S3 on SeaweedFS, or the local disk for
`make run`). Every failure to reach it becomes FileStoreDown (503); nothing else here knows S3."""

from __future__ import annotations

import functools
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core import signing
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.urls import reverse

from core.common.errors import StoreUnavailable

DOWNLOAD_EXPIRES_SECONDS = 600
_LOCAL_LINK_SALT = "handins.download"
_STORE_ERRORS = (BotoCoreError, ClientError, OSError)


class FileStoreDown(StoreUnavailable):
    code = "storage_unavailable"
    detail = "The file store is unavailable; nothing was stored and no upload was used up. Try again shortly."


def file_store() -> Storage:
    return storages["default"]


def file_save(*, key: str, content: IO[bytes]) -> str:
    """Store `content` under `key` (made by the server); returns the key the store used."""
    wrapped = File(content, name=key)
    # Stored as opaque bytes, so that the store never serves it with a type a browser would render.
    wrapped.content_type = "application/octet-stream"  # type: ignore[attr-defined]
    try:
        return file_store().save(key, wrapped)
    except _STORE_ERRORS as exc:
        raise FileStoreDown() from exc


def file_delete(*, key: str) -> None:
    try:
        file_store().delete(key)
    except FileNotFoundError:
        return
    except _STORE_ERRORS as exc:
        raise FileStoreDown() from exc


def file_download_url(*, key: str, filename: str, expires: int = DOWNLOAD_EXPIRES_SECONDS) -> str:
    """A link that downloads the file as an attachment for `expires` seconds.

    On S3 it is presigned for S3["PUBLIC_ENDPOINT_URL"] (presigning signs the Host header, so it must be
    the address clients use), with response-content-type and response-content-disposition overrides.
    On the local disk it is a signed path served by `LocalDownloadView`. Making a link never calls the store.
    """
    backend = settings.STORAGES["default"]["BACKEND"]
    if backend.endswith("S3Storage"):
        options: dict[str, Any] = dict(settings.STORAGES["default"].get("OPTIONS", {}))
        options_key = tuple(sorted((k, repr(v)) for k, v in options.items()))
        signer = _public_signer(backend, options_key, settings.S3["PUBLIC_ENDPOINT_URL"])
        return signer.url(
            key,
            parameters={
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
                "ResponseContentType": "application/octet-stream",
            },
            expire=expires,
        )
    token = signing.dumps({"key": key, "name": filename}, salt=_LOCAL_LINK_SALT)
    return reverse("handins-local-download", args=[token])


@functools.lru_cache(maxsize=4)
def _public_signer(backend: str, options_key: tuple[tuple[str, str], ...], public_endpoint: str) -> Any:
    """A storage that only signs links for the public endpoint (cached: making a boto3 client costs ~30 ms)."""
    from django.utils.module_loading import import_string

    options: dict[str, Any] = dict(settings.STORAGES["default"].get("OPTIONS", {}))
    options["endpoint_url"] = public_endpoint
    return import_string(backend)(**options)


def local_link_open(*, token: str) -> tuple[IO[bytes], str]:
    """The file and download name behind a local signed link; LookupError when the link is bad or expired,
    or the file is gone."""
    try:
        payload = signing.loads(token, salt=_LOCAL_LINK_SALT, max_age=DOWNLOAD_EXPIRES_SECONDS)
    except signing.BadSignature as exc:  # includes SignatureExpired
        raise LookupError("bad or expired link") from exc
    try:
        return file_store().open(payload["key"], "rb"), payload["name"]
    except FileNotFoundError as exc:
        raise LookupError("file is gone") from exc
