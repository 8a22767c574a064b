"""`BwrapBackend`: each environment in its own bubblewrap sandbox (default on Linux).

What the function sees: a read-only root built from scratch (a tmpfs that bwrap
remounts read-only): host /usr, the /bin /sbin /lib* entries as on the host, a
minimal /etc (see `lamina.sandbox.etc`), fresh /proc and /dev, /var/task (code),
/opt (layers, or an empty folder), /var/runtime, the spec's extra mounts, and a
writable /tmp. It runs in its own pid, IPC, UTS and mount namespaces; the network
namespace is shared because functions need the network and the Runtime API
listens on 127.0.0.1. No /sys (runtimes size their heaps from
AWS_LAMBDA_FUNCTION_MEMORY_SIZE, not from cgroup files) and no /dev/shm (as on AWS).

Identity. As root, bwrap runs privileged *without* a user namespace and the
command is started through `setpriv`, which drops to uid 993 / gid 990 (AWS's
sbx_user1051), clears groups, every capability and sets no_new_privs. That makes
the function a real unprivileged host uid, so the files it can write are only its
/tmp. The rejected alternative, `--unshare-user --uid 993` as root, maps the
sandbox uid to host uid 0: without capabilities, but still host root for file
ownership and peer credentials. Unprivileged bwrap (a non-root server) has to use
a user namespace; then every host path in the spec must be searchable by the
server's user, because bwrap resolves bind sources after giving up privileges.

Limits. The sandbox's first process is put into its cgroup (and gets its
RLIMIT_NOFILE) *before* it executes anything of the function: bwrap writes the
child's pid to --info-fd and then waits on --block-fd; we attach the pid and only
then release it.

Every host path in a spec must be readable by the sandbox uid where the function
reads it (code files 0644 / folders 0755, as on AWS). Root-only parent folders
(say /root/.pyenv) are fine as root: bwrap resolves mounts before dropping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path, PurePosixPath

from lamina.sandbox import tmpfs
from lamina.sandbox.base import Sandbox, SandboxBackend, SandboxSpec
from lamina.sandbox.cgroups import Cgroups, detect
from lamina.sandbox.etc import stage_etc
from lamina.sandbox.tree import ProcessTree, open_files_limit

log = logging.getLogger("lamina.sandbox")

SANDBOX_UID = 993   # what AWS functions see: uid=993(sbx_user1051) gid=990
SANDBOX_GID = 990
SETPRIV = "/usr/bin/setpriv"
INFO_TIMEOUT_S = 10.0

# Top-level entries that hold programs and libraries; symlinks on merged-usr hosts.
TOP_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


def signal_status(rc: int) -> int:
    """bwrap reports "killed by signal N" as exit code 128+N: turn it into -N.

    A function that itself exits with 128+N is reported as a signal too; bwrap gives
    no way to tell the two apart.
    """
    if 128 < rc < 128 + signal.NSIG:
        return -(rc - 128)
    return rc


class _Layout:
    """Builds a bwrap command line, remembering which folders exist in the sandbox."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self.dirs: set[str] = {"/"}

    def add(self, *args: str) -> None:
        self.args.extend(args)

    def parents(self, target: str) -> None:
        # bwrap creates missing parents of a mount point with mode 0700, which the
        # sandbox uid could not traverse: create them explicitly (0755) first.
        missing = [str(p) for p in reversed(PurePosixPath(target).parents)
                   if str(p) not in self.dirs]
        for d in missing:
            self.add("--dir", d)
            self.dirs.add(d)

    def mount(self, source: str, target: str, *, writable: bool = False) -> None:
        self.parents(target)
        self.add("--bind" if writable else "--ro-bind", source, target)
        if Path(source).is_dir():
            self.dirs.add(target)

    def host_entry(self, host: str, target: str) -> None:
        """Show host path `host` at `target`: a symlink stays a symlink if it points
        into /usr (visible anyway), else its resolved target is bound."""
        self.parents(target)
        if os.path.islink(host):
            real = os.path.realpath(host)
            if real.startswith("/usr/"):
                self.add("--symlink", os.readlink(host), target)
                return
            host = real
        if os.path.exists(host):
            self.mount(host, target)


class BwrapBackend(SandboxBackend):
    """Starts sandboxes with /usr/bin/bwrap. Construct once per server."""

    name = "bwrap"
    isolated = True

    def __init__(self, cgroups: Cgroups | None = None, *, uid: int = SANDBOX_UID,
                 gid: int = SANDBOX_GID, bwrap: str | None = None,
                 etc_dir: Path | None = None) -> None:
        """`etc_dir`: where to stage /etc; emptied first (default: a new temporary
        folder, removed by `close()`; prefer one under the data dir: a killed server
        leaves a temporary one behind, and /tmp cleaners may delete it under a
        long-running server)."""
        self.bwrap = bwrap or shutil.which("bwrap") or "/usr/bin/bwrap"
        self.cgroups = cgroups if cgroups is not None else detect()
        self.privileged = os.geteuid() == 0
        if self.privileged and not os.access(SETPRIV, os.X_OK):
            raise RuntimeError(f"{SETPRIV} (util-linux) is needed to drop privileges")
        self.uid, self.gid = uid, gid
        # Owner of /tmp on the host: the sandbox uid, or ourselves without root.
        self.host_uid = uid if self.privileged else os.getuid()
        self.host_gid = gid if self.privileged else os.getgid()
        self._own_etc = etc_dir is None
        if etc_dir is not None:
            shutil.rmtree(etc_dir, ignore_errors=True)
            etc_dir.mkdir(parents=True)
        self._etc = etc_dir or Path(tempfile.mkdtemp(prefix="lamina-etc-"))
        self._static = self._static_layout(stage_etc(self._etc, uid, gid))

    def _static_layout(self, etc_binds: list[tuple[str, str]]) -> _Layout:
        lay = _Layout()
        lay.add("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "localhost",
                "--die-with-parent", "--new-session")
        if self.privileged:
            # Only what setpriv needs to drop to the sandbox uid; it then drops these.
            lay.add("--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                    "--cap-add", "CAP_SETPCAP")
        else:
            lay.add("--unshare-user", "--uid", str(self.uid), "--gid", str(self.gid),
                    "--disable-userns")
        lay.mount("/usr", "/usr")
        for name in TOP_DIRS:
            lay.host_entry(f"/{name}", f"/{name}")
        lay.mount(str(self._etc), "/etc")
        for host, target in etc_binds:
            lay.mount(host, target)
        lay.add("--proc", "/proc", "--dev", "/dev")
        lay.add("--dir", "/var")
        lay.dirs.add("/var")
        return lay

    def command(self, spec: SandboxSpec, info_fd: int, block_fd: int) -> list[str]:
        """The full bwrap argument list (without the binary) for `spec`."""
        lay = _Layout()
        lay.args = [*self._static.args, "--info-fd", str(info_fd), "--block-fd", str(block_fd)]
        lay.dirs = set(self._static.dirs)
        lay.mount(str(spec.code_dir), "/var/task")
        if spec.opt_dir is not None:
            lay.mount(str(spec.opt_dir), "/opt")
        else:
            lay.parents("/opt/x")
        if spec.runtime_dir is not None:
            lay.mount(str(spec.runtime_dir), "/var/runtime")
        for m in spec.mounts:
            lay.mount(str(m.source), m.target)
        lay.mount(str(spec.tmp_dir), "/tmp", writable=True)
        # /dev read-only too: no /dev/shm (as on AWS); device nodes still work.
        lay.add("--remount-ro", "/dev", "--remount-ro", "/")
        lay.add("--chdir", spec.cwd, "--clearenv")
        for key, value in spec.env.items():
            lay.add("--setenv", key, value)
        return lay.args

    async def start(self, spec: SandboxSpec) -> Sandbox:
        """Start `spec.argv` in a new sandbox; returns once it runs in its cgroup.

        bwrap's own errors (a missing mount source, say) go to `spec.stdout_fd` and
        show as an early exit (status 1) of the returned sandbox.
        """
        tmp = tmpfs.plan(spec.tmp_dir, spec.tmp_size_mb, self.host_uid, self.host_gid,
                         nsenter=True)
        group = self.cgroups.create(spec.env_id, spec.memory_mb, spec.max_processes)
        info_r, info_w = os.pipe()
        block_r, block_w = os.pipe()
        # Arguments travel through a memfd, not argv: the environment holds
        # credentials, and argv is world-readable in /proc.
        args_fd = os.memfd_create("bwrap-args")
        argv = list(spec.argv)
        if self.privileged:
            argv = [SETPRIV, f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                    "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--", *argv]
        proc: asyncio.subprocess.Process | None = None
        try:
            data = b"".join(os.fsencode(a) + b"\0" for a in self.command(spec, info_w, block_r))
            os.write(args_fd, data)
            os.lseek(args_fd, 0, os.SEEK_SET)
            # Without a hook (every start but an environment's first) this is a
            # vfork: no copy of the server's page tables.
            proc = await asyncio.create_subprocess_exec(
                *tmp.prefix, self.bwrap, "--args", str(args_fd), "--", *argv,
                stdin=subprocess.DEVNULL, stdout=spec.stdout_fd, stderr=spec.stdout_fd,
                pass_fds=(info_w, block_r, args_fd, *tmp.pass_fds), env={}, cwd="/",
                preexec_fn=tmp.hook)
            for fd in (info_w, block_r, args_fd):
                os.close(fd)
            info_w = block_r = args_fd = -1
            child = await asyncio.wait_for(_read_child_pid(info_r), INFO_TIMEOUT_S)
            if tmp.creates and child is not None:   # bwrap waits for us: still alive
                tmpfs.adopt(spec.tmp_dir, proc.pid)
            if child is not None:
                group.attach(child)
                with contextlib.suppress(ProcessLookupError):
                    resource.prlimit(child, resource.RLIMIT_NOFILE,
                                     open_files_limit(spec.max_open_files))
            with contextlib.suppress(BrokenPipeError):   # bwrap died during its setup
                os.write(block_w, b"x")
        except BaseException:
            if proc is None:
                group.remove()
            else:   # the full teardown, shielded: start() may be failing on a cancel
                await asyncio.shield(ProcessTree(proc, group).destroy())
            raise
        finally:
            for fd in (info_r, info_w, block_r, block_w, args_fd):
                if fd >= 0:
                    os.close(fd)
        return ProcessTree(proc, group, map_status=signal_status)

    async def release_tmp(self, tmp_dir: Path) -> None:
        tmpfs.release_tmp(tmp_dir)

    async def close(self) -> None:
        self.cgroups.close()
        if self._own_etc:
            shutil.rmtree(self._etc, ignore_errors=True)


def _set_once(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def _read_child_pid(fd: int) -> int | None:
    """Read bwrap's --info-fd JSON to EOF; None if bwrap died before cloning."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _set_once, ready)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
            continue
        if not chunk:
            break
        chunks.append(chunk)
    try:
        return int(json.loads(b"".join(chunks))["child-pid"])
    except (ValueError, KeyError, TypeError):
        return None
