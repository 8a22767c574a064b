"""Storage interfaces: `MetadataStore` (documents) and `BlobStore` (code, by SHA-256).

The metadata store holds JSON documents addressed by (kind, key). Keys are
strings such as ``"my-fn"`` or ``"my-fn/3"``; `scan` returns a kind's documents
whose key starts with a prefix, in key order. Changes inside `transaction()` are
atomic and serialised against other writers (SQLite `BEGIN IMMEDIATE`,
PostgreSQL row locks), which is what RevisionId checks and concurrency counters
rely on.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

Doc = dict[str, Any]


class MetadataStore(abc.ABC):
    @abc.abstractmethod
    def get(self, kind: str, key: str) -> Doc | None: ...

    @abc.abstractmethod
    def put(self, kind: str, key: str, doc: Doc) -> None: ...

    @abc.abstractmethod
    def delete(self, kind: str, key: str) -> bool:
        """Remove one document; True if it existed."""

    @abc.abstractmethod
    def scan(self, kind: str, prefix: str = "") -> list[tuple[str, Doc]]: ...

    @abc.abstractmethod
    def delete_prefix(self, kind: str, prefix: str) -> int: ...

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """Atomic, serialised block; nested use joins the outer transaction."""

    @abc.abstractmethod
    def close(self) -> None: ...


class BlobStore(abc.ABC):
    """Content-addressed bytes. `put` is idempotent; keys are hex SHA-256 digests."""

    @abc.abstractmethod
    def put(self, data: bytes) -> str: ...

    @abc.abstractmethod
    def get(self, digest: str) -> bytes: ...

    @abc.abstractmethod
    def exists(self, digest: str) -> bool: ...

    @abc.abstractmethod
    def local_path(self, digest: str) -> Path:
        """A local file with the blob's bytes (downloaded first for remote stores)."""

    @abc.abstractmethod
    def delete(self, digest: str) -> None: ...

    def iter_digests(self) -> Iterator[str]:  # pragma: no cover - optional
        return iter(())
