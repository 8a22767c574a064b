"""Filesystem `BlobStore`: blobs/<aa>/<sha256>, written atomically."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from lamina.store.base import BlobStore


class FilesystemBlobStore(BlobStore):
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def local_path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self.local_path(digest)
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")   # unique per writer
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return digest

    def get(self, digest: str) -> bytes:
        return self.local_path(digest).read_bytes()

    def exists(self, digest: str) -> bool:
        return self.local_path(digest).exists()

    def delete(self, digest: str) -> None:
        self.local_path(digest).unlink(missing_ok=True)

    def iter_digests(self) -> Iterator[str]:
        for sub in self.root.iterdir():
            if sub.is_dir():
                yield from (p.name for p in sub.iterdir() if not p.name.endswith(".tmp"))
