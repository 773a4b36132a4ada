"""Where sealed attachment files live: one small interface, two stores.

`LocalStorage` keeps them under the instance folder (the embedded default); `S3Storage` in an
S3-compatible bucket (production: AWS S3, MinIO, Ceph...). Both only ever see sealed bytes
(engine/vault.py): the store is not trusted with personal data.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any, Protocol

from ..errors import EngineError

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/._-]{0,300}$")


class StorageError(EngineError):
    """The store refused or lost a file (a bucket gone, a disk full): nothing was recorded."""

    code = "storage_unavailable"
    kind = "unavailable"


class Storage(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...


def _check(key: str) -> str:
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"invalid storage key {key!r}")
    return key


class LocalStorage:
    """Files under a folder; written to a temporary name and renamed, so a reader never sees half a file."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / _check(key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(path.name + ".part")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StorageError("the stored file is missing") from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Storage:
    """Objects in one bucket of an S3-compatible store, through boto3 (credentials: boto3's usual chain)."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, region: str | None = None):
        import boto3  # type: ignore[import-untyped]  # only deployments that use S3 pay for importing it

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.client: Any = boto3.client("s3", endpoint_url=endpoint_url, region_name=region or "us-east-1")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{_check(key)}" if self.prefix else _check(key)

    def put(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except Exception as exc:  # botocore's errors: a refusal or a lost endpoint, both "not stored"
            raise StorageError(f"the object store refused the file ({type(exc).__name__})") from None

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except Exception as exc:
            raise StorageError(f"the object store did not return the file ({type(exc).__name__})") from None

    def delete(self, key: str) -> None:
        with contextlib.suppress(Exception):  # best effort: only used to clean up after a failed upload
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def for_settings(settings) -> Storage:
    """`FENGQIAO_ATTACHMENT_STORAGE`: unset or `local` (instance folder), a path, or `s3://bucket/prefix`."""
    target = settings.attachment_storage or "local"
    if target.startswith("s3://"):
        bucket, _, prefix = target[5:].partition("/")
        return S3Storage(bucket, prefix, settings.s3_endpoint_url, settings.s3_region)
    if target == "local":
        return LocalStorage(Path(settings.instance_path) / "attachments")
    return LocalStorage(Path(target))
