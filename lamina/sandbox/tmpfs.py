"""The size-limited folder that a sandbox sees as /tmp.

AWS keeps /tmp across the invocations (and runtime restarts) of one execution
environment, so its lifetime is the pool's business, not a sandbox's: backends ask
`plan()` on every start and the pool calls `SandboxBackend.release_tmp()` when it
finally discards that /tmp. One sandbox at a time per /tmp folder.

How (as root): each /tmp folder gets a mount namespace of its own, a copy of the
server's (slave, so host mounts still propagate in, nothing leaks out), with a
tmpfs of `size_mb` mounted on the folder. The first start creates it in its child
between fork and exec (`Plan.hook`); the backend then `adopt()`s it by keeping a
file descriptor of it. Later starts enter it (`nsenter` as a command prefix, an
exec rather than a fork of the server, or a `setns` hook). Closing the descriptor
(`release_tmp`, or the server exiting, even by a crash) frees it all.

Rejected: a tmpfs mounted on the folder in the host's namespace. Every such mount
makes every later bwrap start slower, since bwrap re-reads the whole mount table
for each of its binds (measured: 9 ms with 20 host mounts, 39 ms with 320, 105 ms
with 1,020), and a crash leaves them behind. Also rejected: creating the
namespace in a helper process of its own (~10 ms more per new environment).

Without root (or where mount namespaces are refused): a plain, unlimited folder,
with a warning. With a tmpfs the host sees only an empty folder at the path.
tmpfs pages are charged to the memory cgroup of the process that writes them, so
files in /tmp count against MemorySize (unlike AWS, where /tmp is disk).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("lamina.sandbox")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_CLONE_NEWNS, _MS_NOSUID, _MS_NODEV, _MS_REC, _MS_SLAVE = 0x20000, 2, 4, 0x4000, 0x80000
NSENTER = "/usr/bin/nsenter"

_namespaces: dict[str, int] = {}    # tmp folder -> fd of the mount namespace holding its tmpfs
_plain: set[str] = set()


@dataclass(frozen=True)
class Plan:
    """How to start a process whose /tmp is a folder: a command prefix, the fds it
    needs, a pre-exec hook; `creates` means the hook makes the namespace and the
    caller must `adopt()` it from the started process."""

    prefix: list[str]
    pass_fds: tuple[int, ...]
    hook: Callable[[], None] | None
    creates: bool = False


def _check(res: int, what: str) -> None:
    if res != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _create_hook(path: Path, size_mb: int, uid: int, gid: int,
                 cwd: str | None) -> Callable[[], None]:
    target = os.fsencode(path)
    opts = f"size={size_mb}m,mode=0700,uid={uid},gid={gid}".encode()

    def create() -> None:   # in the child, between fork and exec
        _check(_libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        # Slave: host mounts still propagate in, the tmpfs never propagates out.
        _check(_libc.mount(None, b"/", None, _MS_REC | _MS_SLAVE, None), "make / a slave")
        _check(_libc.mount(b"lamina-tmp", target, b"tmpfs", _MS_NOSUID | _MS_NODEV, opts),
               "mount tmpfs")
        if cwd is not None:
            os.chdir(cwd)
    return create


def _enter_hook(fd: int, cwd: str | None) -> Callable[[], None]:
    def enter() -> None:
        _check(_libc.setns(fd, _CLONE_NEWNS), "setns(CLONE_NEWNS)")
        if cwd is not None:
            os.chdir(cwd)   # entering a mount namespace moves to its root
    return enter


@functools.cache
def namespaces_usable() -> bool:
    """Can this process give a child a mount namespace with a tmpfs? Tried once."""
    if os.geteuid() != 0:
        return False
    with tempfile.TemporaryDirectory(prefix="lamina-probe-") as probe:
        try:
            subprocess.run(["/bin/true"], check=True, timeout=10,
                           preexec_fn=_create_hook(Path(probe), 1, 0, 0, None))
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("no mount namespace for /tmp: %s", exc)
            return False
    return True


def plan(path: Path, size_mb: int, uid: int, gid: int, *, nsenter: bool,
         cwd: str | None = None) -> Plan:
    """How the next start with /tmp at `path` (an empty folder the caller owns) runs.

    `nsenter`: enter an existing namespace by command prefix (no fork of the
    server) rather than by hook; `cwd`: the hooks' working directory to restore.
    The tmpfs belongs to `uid:gid`, mode 0700, and keeps its files until
    `release_tmp(path)`.
    """
    key = str(path)
    fd = _namespaces.get(key)
    if fd is not None:
        if nsenter:
            return Plan([NSENTER, f"--mount=/proc/self/fd/{fd}", "--"], (fd,), None)
        return Plan([], (), _enter_hook(fd, cwd))
    if key not in _plain:
        if namespaces_usable():
            return Plan([], (), _create_hook(path, size_mb, uid, gid, cwd), creates=True)
        if not _plain:
            log.warning("/tmp is a plain folder: EphemeralStorage is not enforced")
        _plain.add(key)
        if os.geteuid() == 0:
            os.chown(path, uid, gid)
            os.chmod(path, 0o700)
    return Plan([], (), None)


def adopt(path: Path, pid: int) -> bool:
    """Keep the namespace that the `plan().hook` of process `pid` created for `path`.

    Call it while `pid` is known to be alive (for bwrap: after its --info-fd). A
    namespace equal to our own (the pid died and was reused) is refused: False.
    """
    try:
        fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    if os.fstat(fd).st_ino == os.stat("/proc/self/ns/mnt").st_ino or str(path) in _namespaces:
        os.close(fd)
        return False
    _namespaces[str(path)] = fd
    return True


def release_tmp(path: Path) -> None:
    """Discard the tmpfs made for `path`; its files vanish with it once no sandbox
    runs in it any more. The folder itself (and, when plain, the files in it)
    stays the caller's to delete. Idempotent."""
    _plain.discard(str(path))
    fd = _namespaces.pop(str(path), None)
    if fd is not None:
        os.close(fd)
