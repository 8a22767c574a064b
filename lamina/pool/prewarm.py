"""Pre-warmed Python environments ("slots"): cold starts without starting a runtime.

A slot is an `Environment` whose sandbox already runs Lamina's Python bootstrap in
standby (see `standby()` in python_bootstrap/bootstrap.py): a generic environment
with no function identity, an empty /var/task and /opt (read-only binds of empty
per-slot host folders), its own 512 MB /tmp, and its memory cgroup at the maximum.
It has asked for work (`GET /next`) and waits.

Assigning a slot to a function (`specialize`) is what a cold start becomes:

1. hard-link the function's unpacked code (and merged layers) into the slot's
   folders. A bind mount shows the live contents of its folder, so the files appear
   inside the running sandbox, read-only. (Host mounts would not: the root mount is
   private, nothing propagates into a running sandbox.)
2. set the cgroup limits of the function's MemorySize (CPU capped once Init is over);
3. send the runtime one event marked `Lamina-Specialize: 1` whose body holds the
   function's whole environment (and the names of the generic variables it
   replaces). The bootstrap takes it on, configures itself as a
   normal start does, imports the handler (init errors go to /init/error as usual)
   and asks for the next event: Init is done. Init Duration counts from step 1.

From then on the slot is an ordinary environment of that function (a reset restarts
it the normal way); it never serves another function. Only functions that a fresh
start would run exactly like this qualify (`Prewarmer.eligible`): a Python runtime
id on Lamina's own bootstrap, the same interpreter, 512 MB of /tmp, no external
extensions, and no variable that a process reads only when it starts (PYTHON*,
LD_*, LC_*, LANG ...; see `blueprint.startup_differences`). A function cannot tell
a slot from a fresh start but for /proc/self/environ, which still shows the
generic environment the process started with.

Slots are kept, `slots` of them, for every Python runtime id that cold-started
within the keep-alive (or that is always wanted: `keep()`), and recycled after the
keep-alive. They are refilled in the background one at a time, once the
invocations that took slots are over (or a second has passed), with the CPU left
over by everything else (cgroup standby share). They are not environments of any
function, so they count for nothing in concurrency accounting. Server-side only,
and only with an isolating backend (bwrap): `process` has no /var/task to bind.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import shutil
import stat
import time
import uuid
from collections import defaultdict
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from lamina.observe.logs import LogStore, stream_name
from lamina.pool.blueprint import standby_env, startup_differences
from lamina.pool.environment import Blueprint, Environment, State
from lamina.runtime_api.channel import Invocation
from lamina.runtime_api.server import RuntimeApiServer
from lamina.runtimes.base import Launch
from lamina.runtimes.python import BOOTSTRAP_DIR, RUNTIME_IDS
from lamina.sandbox.base import Sandbox, SandboxBackend, SandboxSpec

log = logging.getLogger("lamina.pool")

MAX_MEMORY_MB = 10240          # Lambda's largest MemorySize: a slot's cap until assigned
TMP_MB = 512                   # the default EphemeralStorage, the only one a slot has
STANDBY_TIMEOUT_S = 60.0       # a standby start runs on left-over CPU: allow it time
FAILURE_BACKOFF_S = 30.0       # after a slot failed to start, leave that runtime id alone
# A refill waits until the invocations that took slots are over (starting a sandbox
# costs the server's event loop a few ms, too), polling every REFILL_POLL_S, but never
# longer than REFILL_WAIT_MAX_S, so that long invocations and bursts still get slots.
REFILL_POLL_S = 0.01
REFILL_WAIT_MAX_S = 1.0
CLOSE_WAIT_S = 5.0             # close() lets a slot that is starting finish for this long


class _StandbyLog:
    """A slot's log before assignment: the server's debug log, never a log group."""

    def put(self, group: str, stream: str, message: str, timestamp_ms: int | None = None) -> None:
        log.debug("pre-warmed runtime: %s", message)


class _StandbyStarts(SandboxBackend):
    """The backend as a slot uses it before assignment: every sandbox it starts gets
    the standby CPU share at once (a warming runtime must not slow invocations down)."""

    def __init__(self, backend: SandboxBackend) -> None:
        self.backend = backend
        self.name, self.isolated = backend.name, backend.isolated

    async def start(self, spec: SandboxSpec) -> Sandbox:
        sandbox = await self.backend.start(spec)
        try:
            sandbox.set_limits(spec.memory_mb, standby=True)
        except OSError as exc:
            log.debug("no standby CPU share for slot %s: %s", spec.env_id, exc)
        return sandbox

    async def release_tmp(self, tmp_dir: Path) -> None:
        await self.backend.release_tmp(tmp_dir)


class Prewarmer:
    """Slots per Python runtime id. Lives on the event loop; the pool owns it."""

    def __init__(self, backend: SandboxBackend, runtime_api: RuntimeApiServer, logs: LogStore,
                 root: Path, slots: int, keep_alive_s: float) -> None:
        self.backend = backend
        self.runtime_api = runtime_api
        self.logs = logs
        self.root = root              # the pool's: a slot's folder is <root>/<env id>/
        self.slots = slots
        self.keep_alive_s = keep_alive_s
        self._idle: dict[str, list[Environment]] = defaultdict(list)
        self._starting: dict[str, Environment] = {}            # at most one, by runtime id
        self._wanted: dict[str, tuple[float, Launch]] = {}     # runtime id -> (last demand, launch)
        self._always: set[str] = set()
        self._failed: dict[str, float] = {}                    # runtime id -> retry after
        self._eligible: dict[str, bool] = {}                   # blueprint key -> verdict
        self._refill: asyncio.Task[None] | None = None
        self._specializing = 0                                 # assignments in flight
        self._quiet = asyncio.Event()                          # set while there are none
        self._quiet.set()
        self._taken: list[Environment] = []     # slots whose first invocation may still run
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- which functions ----------------------------------------------------------------

    def eligible(self, bp: Blueprint) -> bool:
        """Would a fresh start of `bp` be exactly what a slot becomes? (cached per key)"""
        verdict = self._eligible.get(bp.key)
        if verdict is None:
            verdict = self._check(bp)
            if len(self._eligible) > 4096:
                self._eligible.clear()
            self._eligible[bp.key] = verdict
        return verdict

    def _check(self, bp: Blueprint) -> bool:
        launch = bp.launch
        if (not self.backend.isolated or launch is None or bp.runtime not in RUNTIME_IDS
                or launch.runtime_dir != BOOTSTRAP_DIR or bp.extensions or bp.tmp_mb != TMP_MB
                or bp.initialization_type != "on-demand"):
            return False
        spec: SandboxSpec = bp.spec_for("127.0.0.1:0", "", "", Path("/nonexistent"), -1,
                                        bp.initialization_type)
        plain = SandboxSpec(env_id="", argv=[], env={}, code_dir=Path(), tmp_dir=Path(),
                            tmp_size_mb=0, memory_mb=0, stdout_fd=-1)
        if (spec.argv != launch.argv or spec.mounts != launch.mounts
                or spec.runtime_dir != launch.runtime_dir or spec.cwd != plain.cwd
                or spec.max_processes != plain.max_processes
                or spec.max_open_files != plain.max_open_files or spec.extra):
            return False
        differences = startup_differences(standby_env(launch, "127.0.0.1:0"), spec.env)
        if differences:
            log.debug("%s: no pre-warmed start (sets %s)", bp.function_name, ", ".join(differences))
        return not differences

    # -- taking a slot ------------------------------------------------------------------

    def take(self, bp: Blueprint) -> Environment | None:
        """An idle slot for `bp` (which is about to cold-start), or None. Synchronous.

        Every call of an eligible blueprint counts as demand for its runtime id, so its
        slots are (re)filled in the background.
        """
        if self._closed or not self.eligible(bp):
            return None
        self._wanted[bp.runtime] = (time.monotonic(), bp.launch)
        idle = self._idle.get(bp.runtime) or []
        found = None
        for env in reversed(list(idle)):
            if env.sandbox is None or env.sandbox.returncode() is not None:
                idle.remove(env)                   # died while waiting: never hand it out
                self._spawn(env.destroy())
            elif env.bp.launch == bp.launch:
                found = env
                idle.remove(env)
                self._taken.append(env)
                break
        self._kick()
        return found

    async def specialize(self, env: Environment, bp: Blueprint) -> float | None:
        """Turn the slot `env` into an environment of `bp`; returns its Init Duration (ms).

        Afterwards `env` is `bp`'s, exactly as `Environment.init()` leaves it: ready, or
        with `init_error` set and its runtime stopped. None: the slot could not take the
        function (nothing was sent to the runtime); the caller destroys it and starts
        the function normally.
        """
        self._specializing += 1
        self._quiet.clear()
        try:
            return await self._specialize(env, bp, time.perf_counter())
        finally:
            self._specializing -= 1
            if not self._specializing:
                self._quiet.set()

    async def _specialize(self, env: Environment, bp: Blueprint, started: float) -> float | None:
        assert env.sandbox is not None and env.channel is not None
        stream = stream_name(bp.version)
        spec: SandboxSpec = bp.spec_for(env.api_addr, stream, env.id, env.tmp, -1,
                                        bp.initialization_type)
        try:
            await asyncio.to_thread(self._populate, env, spec)
            if not env.sandbox.set_limits(bp.memory_mb):
                return None
        except OSError as exc:
            log.warning("pre-warmed environment %s cannot take %s: %s", env.id,
                        bp.function_name, exc)
            return None
        generic = list(standby_env(env.bp.launch, env.api_addr))
        env.bp, env.backend, env.logs, env.stream = bp, self.backend, self.logs, stream
        env.forget_init_output()
        channel = env.channel
        channel.function_name, channel.function_version = bp.function_name, bp.version
        channel.handler = bp.handler
        channel.ready.clear()                  # set again by the runtime's next /next
        channel.submit(Invocation(
            request_id=f"lamina-specialize-{uuid.uuid4()}",
            payload=json.dumps({"env": spec.env, "standby": generic}).encode(),
            deadline_ms=int((time.time() + bp.timeout_s) * 1000),
            invoked_function_arn="", specialize=True))
        channel.current = channel.result = None   # it gets no /response: refuse one
        return await env.await_init(started)

    @staticmethod
    def _populate(env: Environment, spec: SandboxSpec) -> None:
        link_tree(spec.code_dir, env.root / "task")
        if spec.opt_dir is not None:
            link_tree(spec.opt_dir, env.root / "opt")

    # -- keeping slots ------------------------------------------------------------------

    def keep(self, runtime: str, launch: Launch) -> None:
        """Keep slots of `runtime` whether or not it cold-starts (call on the loop)."""
        if runtime not in RUNTIME_IDS or launch.runtime_dir != BOOTSTRAP_DIR:
            log.warning("%s: only Lamina's Python runtimes can be pre-warmed", runtime)
            return
        self._always.add(runtime)
        self._wanted[runtime] = (time.monotonic(), launch)
        self._kick()

    def _missing(self) -> tuple[str, Launch] | None:
        """A runtime id that wants another slot now, with its launch."""
        now = time.monotonic()
        for runtime, (last, launch) in self._wanted.items():
            recent = runtime in self._always or now - last <= self.keep_alive_s
            if (recent and now >= self._failed.get(runtime, 0.0)
                    and len(self._idle.get(runtime, ())) < self.slots):
                return runtime, launch
        return None

    def _kick(self) -> None:
        if self._closed or (self._refill is not None and not self._refill.done()):
            return
        if self._missing() is not None:
            self._refill = asyncio.get_running_loop().create_task(self._fill())

    async def _fill(self) -> None:
        # One slot at a time, and not while a cold start that took a slot is in flight.
        while not self._closed and self._missing() is not None:
            await self._settled()
            missing = None if self._closed else self._missing()
            if missing is None:
                continue
            try:
                await self._start_slot(*missing)
            except Exception:
                log.exception("starting a pre-warmed %s environment failed", missing[0])
                self._failed[missing[0]] = time.monotonic() + FAILURE_BACKOFF_S

    async def _settled(self) -> None:
        """Wait until no slot is being assigned and the invocations that took slots are
        over (at most REFILL_WAIT_MAX_S)."""
        give_up = time.monotonic() + REFILL_WAIT_MAX_S
        while (now := time.monotonic()) < give_up and not self._closed:
            self._taken = [env for env in self._taken if env.state == State.BUSY]
            if not self._quiet.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._quiet.wait(), give_up - now)
            elif self._taken:
                await asyncio.sleep(REFILL_POLL_S)
            else:
                return
        self._taken.clear()

    async def _start_slot(self, runtime: str, launch: Launch) -> None:
        env = Environment(self._blueprint(runtime, launch), _StandbyStarts(self.backend),
                          self.runtime_api, _StandbyLog(), self.root)  # type: ignore[arg-type]
        for name in ("task", "opt"):
            (env.root / name).mkdir(parents=True)
            os.chmod(env.root / name, 0o755)
        self._starting[runtime] = env
        try:
            await env.init()
        except asyncio.CancelledError:
            raise                    # by close(), which destroys what is in _starting
        except BaseException:
            self._starting.pop(runtime, None)
            await env.destroy()
            raise
        self._starting.pop(runtime, None)
        if env.init_error is not None or self._closed:
            if env.init_error is not None:
                log.warning("a pre-warmed %s environment failed to start: %s", runtime,
                            env.init_error.payload[:500].decode(errors="replace"))
                self._failed[runtime] = time.monotonic() + FAILURE_BACKOFF_S
            await env.destroy()
            return
        env.forget_init_output()
        env.last_used = time.monotonic()
        self._idle[runtime].append(env)

    def _blueprint(self, runtime: str, launch: Launch) -> Blueprint:
        def spec_for(api_addr: str, stream: str, env_id: str, tmp: Path, fd: int,
                     init_type: str) -> SandboxSpec:
            folder = self.root / env_id
            return SandboxSpec(
                env_id=env_id, argv=list(launch.argv), env=standby_env(launch, api_addr),
                code_dir=folder / "task", tmp_dir=tmp, tmp_size_mb=TMP_MB,
                memory_mb=MAX_MEMORY_MB, stdout_fd=fd, opt_dir=folder / "opt",
                runtime_dir=launch.runtime_dir, mounts=launch.mounts)

        return Blueprint(key=f"lamina-prewarm/{runtime}", function_name="", version="$LATEST",
                         memory_mb=MAX_MEMORY_MB, timeout_s=STANDBY_TIMEOUT_S, tmp_mb=TMP_MB,
                         log_group="", spec_for=spec_for, runtime=runtime,   # see _StandbyLog
                         launch=launch)

    async def reap(self) -> None:
        """Recycle slots idle for longer than the keep-alive (and dead ones); refill."""
        now = time.monotonic()
        victims = []
        for idle in self._idle.values():
            for env in list(idle):
                dead = env.sandbox is None or env.sandbox.returncode() is not None
                if dead or now - env.last_used > self.keep_alive_s:
                    idle.remove(env)
                    victims.append(env)
        await asyncio.gather(*(env.destroy() for env in victims), return_exceptions=True)
        self._kick()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Destroy every slot (the server is stopping)."""
        self._closed = True
        if self._refill is not None and not self._refill.done():
            # Let a slot that is starting finish (it is then destroyed at once): a start
            # cancelled half-way leaves its teardown to a loop that is about to close.
            done, _ = await asyncio.wait({self._refill}, timeout=CLOSE_WAIT_S)
            if not done:
                self._refill.cancel()
            await asyncio.gather(self._refill, return_exceptions=True)
        victims = [env for idle in self._idle.values() for env in idle]
        victims += list(self._starting.values())
        self._idle.clear()
        await asyncio.gather(*(env.destroy() for env in victims), *self._tasks,
                             return_exceptions=True)


def link_tree(source: Path, target: Path) -> None:
    """Hard-link every file below `source` into the existing, empty folder `target`.

    Folders are created with their source's mode, symbolic links re-created as they
    are; a file is copied where linking is impossible (another file system).
    """
    os.chmod(target, stat.S_IMODE(os.stat(source).st_mode))
    for folder, dirs, files in os.walk(source):
        rel = os.path.relpath(folder, source)
        dest = target if rel == "." else target / rel
        for name in dirs:
            src = os.path.join(folder, name)
            if os.path.islink(src):            # os.walk lists links to folders here
                os.symlink(os.readlink(src), dest / name)
            else:
                os.mkdir(dest / name)
                os.chmod(dest / name, stat.S_IMODE(os.stat(src).st_mode))
        for name in files:
            src = os.path.join(folder, name)
            if os.path.islink(src):
                os.symlink(os.readlink(src), dest / name)
                continue
            try:
                os.link(src, dest / name)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                    raise
                shutil.copy2(src, dest / name)
