"""Deployment packages: validation, content-addressed storage, unpacking.

A package is stored once in the `BlobStore` under its SHA-256 and unpacked once
into ``<data>/code/<digest>/`` (read-only for sandboxes), however many versions
or functions share it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import stat
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lamina.errors import InvalidParameterValueException, RequestEntityTooLargeException
from lamina.store.base import BlobStore

ZIPPED_LIMIT = 52_428_800
UNZIPPED_LIMIT = 262_144_000


@dataclass(frozen=True)
class Package:
    digest: str        # hex SHA-256 (blob key)
    sha256_b64: str    # CodeSha256 as AWS shows it
    size: int
    unzipped_size: int


def inspect(data: bytes) -> int:
    """Validate a zip package; returns its unzipped size."""
    if len(data) > ZIPPED_LIMIT:
        raise RequestEntityTooLargeException(f"Zipped size must be smaller than {ZIPPED_LIMIT} bytes")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            total = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise InvalidParameterValueException(
            "Could not unzip uploaded file. Please check your file, then try to upload again."
        ) from None
    if total > UNZIPPED_LIMIT:
        raise InvalidParameterValueException(
            f"Unzipped size must be smaller than {UNZIPPED_LIMIT} bytes")
    return total


def store_package(blobs: BlobStore, data: bytes) -> Package:
    unzipped = inspect(data)
    digest = blobs.put(data)
    sha_b64 = base64.b64encode(hashlib.sha256(data).digest()).decode()
    return Package(digest=digest, sha256_b64=sha_b64, size=len(data), unzipped_size=unzipped)


class CodeCache:
    """Unpacked packages under one root, one folder per digest. Thread-safe."""

    def __init__(self, root: Path, blobs: BlobStore) -> None:
        self.root = root
        self.blobs = blobs
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def path(self, digest: str) -> Path:
        return self.root / digest

    def ensure(self, digest: str) -> Path:
        """Unpack (once) and return the folder. Safe to call from worker threads."""
        def unpack(folder: Path) -> None:
            with zipfile.ZipFile(self.blobs.local_path(digest)) as zf:
                _extract(zf, folder)
        return build_once(self.path(digest), self._lock, unpack)

    def remove(self, digest: str) -> None:
        shutil.rmtree(self.path(digest), ignore_errors=True)


def build_once(target: Path, lock: threading.Lock, fill: Callable[[Path], None]) -> Path:
    """`target`, filled by `fill(folder)` the first time: built in a temporary folder beside
    it and renamed into place, so a folder that exists is always complete."""
    if target.exists():
        return target
    with lock:
        if not target.exists():
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            fill(tmp)
            os.replace(tmp, target)
    return target


def _extract(zf: zipfile.ZipFile, dest: Path) -> None:
    """Extract keeping the executable bits (bootstrap files must stay executable)."""
    root = dest.resolve()
    for info in zf.infolist():
        target = (dest / info.filename).resolve()
        if root not in target.parents and target != root:
            continue  # path traversal ("../x") is ignored, as unzip does
        mode = (info.external_attr >> 16) & 0o777
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if stat.S_ISLNK(info.external_attr >> 16):
            link = zf.read(info).decode()
            target.symlink_to(link)
            continue
        with zf.open(info) as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        # Files are world-readable for the sandbox user; keep x bits from the zip.
        os.chmod(target, (mode | 0o444) & 0o755 if mode else 0o644)
    for folder, dirs, _ in os.walk(dest):
        for d in dirs:
            os.chmod(os.path.join(folder, d), 0o755)
    os.chmod(dest, 0o755)
