"""Build a runtime's bootstrap once per source version and keep the result.

The Java and .NET runtimes ship as sources (ours, in `java_bootstrap/` and
`dotnet_bootstrap/`) and are compiled on the host the first time they are needed.
The output lives in `<cache>/<kind>/<digest>/`, where the digest covers every source
file plus a caller-supplied key (compiler version, flags), so editing a source or
changing the toolchain rebuilds, and nothing else does. The cache root is
`$LAMINA_RUNTIME_CACHE`, else `~/.cache/lamina`.

Concurrency: builds are serialised by an exclusive `flock` on `<cache>/<kind>/.lock`
and published by renaming a finished temporary folder, so readers never see a half
build and two servers sharing a cache do not race.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

READY_MARKER = ".ready"


def cache_root() -> Path:
    """Where compiled bootstraps are kept."""
    configured = os.environ.get("LAMINA_RUNTIME_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "lamina"


def source_digest(sources: Path, key: str) -> str:
    """SHA-256 over every file below `sources` (path and bytes) and `key`."""
    h = hashlib.sha256(key.encode())
    for path in sorted(p for p in sources.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(sources)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:20]


def recipe(module_file: str) -> str:
    """A digest of the Python module that drives a build, for its cache key: changing how
    something is built must rebuild it just as changing what is built does."""
    return hashlib.sha256(Path(module_file).read_bytes()).hexdigest()[:12]


def build_once(kind: str, sources: Path, key: str, build: Callable[[Path], None]) -> Path:
    """Return the folder holding the build of `sources`, running `build(folder)` if needed.

    `build` receives an empty folder to fill and must raise on failure; a failed build
    leaves nothing behind and is retried on the next call.
    """
    base = cache_root() / kind
    target = base / source_digest(sources, key)
    if (target / READY_MARKER).exists():
        return target
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / READY_MARKER).exists():  # another process built it while we waited
            return target
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=base))
        work.chmod(0o755)  # mkdtemp's 0700 would hide it from sandboxes running as another uid
        try:
            build(work)
            (work / READY_MARKER).write_text(key)
            if target.exists():  # a stale, unfinished folder from a crash
                shutil.rmtree(target)
            os.rename(work, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target
