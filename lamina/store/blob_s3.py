"""S3 `BlobStore`: code and layers at rest in any S3-compatible bucket.

Objects are named ``<prefix>/<sha256>`` (``s3://bucket/prefix`` in
`Settings.blob_url`), so every replica pointed at the same bucket shares them
and an upload of bytes that are already there is skipped. `local_path()`
downloads a blob once into a cache folder in this replica's data dir and checks
its digest on the way in; the folder is a cache only and may be deleted while
the server is stopped. Uploads are written to the cache too, since the code
cache unpacks a package right after storing it.

Every call blocks on the network unless the blob is cached: callers on the event
loop should use `asyncio.to_thread`. The bucket must exist; the store does not
create it (`check()` says so at start-up rather than on the first upload).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import botocore.exceptions

from lamina.errors import ServiceException
from lamina.store.base import BlobStore

_MISSING = {"404", "NoSuchKey", "NotFound"}


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix")."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
    return parts.netloc, parts.path.strip("/")


class S3BlobStore(BlobStore):
    """Thread-safe: boto3 clients are, and cache files appear by atomic rename."""

    def __init__(self, client: Any, bucket: str, prefix: str, cache_dir: Path) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.cache = cache_dir
        cache_dir.mkdir(parents=True, exist_ok=True)

    def check(self) -> None:
        """Fail now, with the reason, if the bucket cannot be reached."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise ServiceException(f"blob store s3://{self.bucket}/{self.prefix} is not "
                                   f"usable (does the bucket exist?): {exc}") from exc

    def key(self, digest: str) -> str:
        return f"{self.prefix}/{digest}" if self.prefix else digest

    def _cached(self, digest: str) -> Path:
        return self.cache / digest[:2] / digest

    def _write_cache(self, digest: str, data: bytes) -> Path:
        path = self._cached(digest)
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")   # unique per writer
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return path

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            try:
                self.client.put_object(Bucket=self.bucket, Key=self.key(digest), Body=data)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                raise ServiceException(f"storing code in S3 failed: {exc}") from exc
        if not self._cached(digest).exists():
            self._write_cache(digest, data)
        return digest

    def get(self, digest: str) -> bytes:
        return self.local_path(digest).read_bytes()

    def local_path(self, digest: str) -> Path:
        """The cached copy, downloaded first if needed. FileNotFoundError if S3 has no such blob."""
        path = self._cached(digest)
        if path.exists():
            return path
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(digest))["Body"]
            data = body.read()
        except botocore.exceptions.ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _MISSING:
                raise FileNotFoundError(f"s3://{self.bucket}/{self.key(digest)}") from exc
            raise ServiceException(f"reading code from S3 failed: {exc}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise ServiceException(f"reading code from S3 failed: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != digest:
            # Never cache (and so never run) bytes that are not what was stored.
            raise ServiceException(f"s3://{self.bucket}/{self.key(digest)} does not match its "
                                   "SHA-256; refusing to use it")
        return self._write_cache(digest, data)

    def exists(self, digest: str) -> bool:
        if self._cached(digest).exists():
            return True
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(digest))
        except botocore.exceptions.ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _MISSING:
                return False
            raise ServiceException(f"checking code in S3 failed: {exc}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise ServiceException(f"checking code in S3 failed: {exc}") from exc
        return True

    def delete(self, digest: str) -> None:
        """Remove the object (shared by every replica) and this replica's cached copy."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key(digest))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise ServiceException(f"deleting code from S3 failed: {exc}") from exc
        self._cached(digest).unlink(missing_ok=True)

    def iter_digests(self) -> Iterator[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      Prefix=start)
        for page in pages:
            for obj in page.get("Contents", []):
                name = obj["Key"][len(start):]
                if len(name) == 64 and "/" not in name:
                    yield name
