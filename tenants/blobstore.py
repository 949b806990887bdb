"""The byte store beneath ``tenants.storage``: a Django ``Storage``, local files or S3.

One code path for both: ``blob_backend()`` builds a ``FileSystemStorage`` rooted at
``STORAGE_ROOT`` or a django-storages ``S3Storage`` on ``STORAGE_S3_BUCKET`` from settings;
everything above it speaks the ``Storage`` API. The backend only ever sees ciphertext.

Both are configured so that a blob is stored under exactly the key it was encrypted for
(overwrite instead of Django's "pick another name"): the key is part of each segment's AAD,
so a renamed blob would not decrypt.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage


def blob_backend() -> Storage:
    """The configured backend (cached per configuration, so test overrides take effect)."""
    return _backend(
        settings.STORAGE_BACKEND,
        str(settings.STORAGE_ROOT),
        settings.STORAGE_S3_BUCKET,
        settings.STORAGE_S3_ENDPOINT_URL,
        settings.STORAGE_S3_REGION,
    )


@lru_cache(maxsize=8)
def _backend(
    kind: str, root: str, bucket: str | None, endpoint_url: str | None, region: str | None
) -> Storage:
    if kind == "s3":
        # Imported here so the local default needs neither boto3 nor a network.
        from storages.backends.s3 import S3Storage

        # Credentials: the standard AWS chain (AWS_ACCESS_KEY_ID/..., profile, instance role).
        return S3Storage(
            bucket_name=bucket,
            endpoint_url=endpoint_url,
            region_name=region,
            location="",
            file_overwrite=True,
            default_acl=None,  # bucket policy decides; never public-read
            querystring_auth=True,
            object_parameters={"ContentType": "application/octet-stream"},
        )
    Path(root).mkdir(parents=True, exist_ok=True, mode=0o700)
    return FileSystemStorage(
        location=root,
        allow_overwrite=True,
        file_permissions_mode=0o600,
        directory_permissions_mode=0o700,
    )


def open_stream(backend: Storage, key: str) -> BinaryIO:
    """Open ``key`` for sequential reading without staging the whole object anywhere.

    ``S3Storage.open`` would first download the whole object into a temporary file (or
    memory), so for S3 the object body is streamed instead. Raises ``FileNotFoundError``.
    """
    bucket = getattr(backend, "bucket", None)
    if bucket is None:
        return backend.open(key, "rb")  # type: ignore[return-value]
    from botocore.exceptions import ClientError

    try:
        body: Any = bucket.Object(key).get()["Body"]
    except ClientError as err:
        if err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
            raise FileNotFoundError(key) from None
        raise
    return body  # type: ignore[no-any-return]
