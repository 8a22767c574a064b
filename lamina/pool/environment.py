"""One execution environment: a sandboxed runtime, its Runtime API, log stream and /tmp.

Lifecycle (as on AWS): `init()` starts the runtime and waits until it asks for
work (or reports an init error); `invoke()` runs one event at a time. A timeout,
crash or out-of-memory kill *resets* the environment: the runtime is killed and
the next invocation runs Init again, while `/tmp` and the log stream stay. The
pool owns the environment and calls `destroy()` exactly once.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.observe import lines
from lamina.observe.logs import LogStore, stream_name
from lamina.pool.output import OutputCollector
from lamina.runtime_api.channel import Invocation, Outcome, RuntimeChannel
from lamina.runtime_api.extensions import Extensions
from lamina.runtime_api.server import RuntimeApiServer
from lamina.sandbox.base import Sandbox, SandboxBackend, SandboxSpec

log = logging.getLogger("lamina.pool")

TAIL_BYTES = 4096


class State(enum.Enum):
    NEW = "new"          # no runtime process (never started, or reset)
    IDLE = "idle"
    BUSY = "busy"
    DEAD = "dead"


@dataclass
class Blueprint:
    """Everything needed to start runtimes of one function configuration."""

    key: str                    # pool key: version identity + configuration digest
    function_name: str
    version: str
    memory_mb: int
    timeout_s: float
    tmp_mb: int
    log_group: str
    spec_for: Any               # Callable[[str api_addr, str stream, str env_id, Path tmp, int fd, str init_type], SandboxSpec]
    runtime: str = ""
    initialization_type: str = "on-demand"
    handler: str = ""
    extensions: int = 0         # external extensions in /opt/extensions
    launch: Any = None          # lamina.runtimes.base.Launch: pre-warmed slots must match it


@dataclass
class Result:
    """The outcome of one invocation as the invoke layer needs it."""

    request_id: str
    payload: bytes
    function_error: str | None     # "Unhandled" or None
    log_tail: str                  # last 4 KB of this invocation's log, base64
    duration_ms: float
    init_ms: float | None
    error_type: str | None = None
    reset: bool = False            # the runtime was killed (timeout, crash, OOM)


@dataclass
class _Capture:
    lines: list[str] = field(default_factory=list)


class Environment:
    def __init__(self, blueprint: Blueprint, backend: SandboxBackend, runtime_api: RuntimeApiServer,
                 logs: LogStore, root: Path) -> None:
        self.bp = blueprint
        self.id = uuid.uuid4().hex
        self.backend = backend
        self.runtime_api = runtime_api
        self.logs = logs
        self.stream = stream_name(blueprint.version)
        self.root = root / self.id
        self.tmp = self.root / "tmp"
        self.state = State.NEW
        self.sandbox: Sandbox | None = None
        self.channel: RuntimeChannel | None = None
        self.api_addr = ""
        self.last_used = time.monotonic()
        self.invocations = 0
        self._output: OutputCollector | None = None
        self._capture: _Capture | None = None
        self._pending_init_lines: list[str] = []
        self._exit_task: asyncio.Task[int] | None = None
        self.init_error: Outcome | None = None

    # -- output -----------------------------------------------------------------------------

    def _line(self, text: str) -> None:
        self.logs.put(self.bp.log_group, self.stream, text)
        if self._capture is not None:
            self._capture.lines.append(text)
        else:
            self._pending_init_lines.append(text)
            del self._pending_init_lines[:-200]

    # -- init -------------------------------------------------------------------------------

    async def init(self) -> float:
        """Start the runtime and wait for its first `/next`; returns Init Duration (ms).

        After an init error the environment keeps `init_error` and the runtime is gone.
        """
        started = time.perf_counter()
        self.init_error = None
        self.tmp.mkdir(parents=True, exist_ok=True)
        if self._output is None:
            self._output = OutputCollector(self._line)
        self.channel = RuntimeChannel(env_id=self.id, function_name=self.bp.function_name,
                                      function_version=self.bp.version)
        self.channel.extensions = Extensions(function_name=self.bp.function_name,
                                             function_version=self.bp.version,
                                             handler=self.bp.handler, expected=self.bp.extensions)
        self.api_addr = await self.runtime_api.open(self.channel)
        spec: SandboxSpec = self.bp.spec_for(self.api_addr, self.stream, self.id, self.tmp,
                                             self._output.write_fd, self.bp.initialization_type)
        self.sandbox = await self.backend.start(spec)
        self.channel.pids = self.sandbox.pids
        self._exit_task = asyncio.get_running_loop().create_task(self.sandbox.wait())
        return await self.await_init(started)

    async def await_init(self, started: float) -> float:
        """The rest of `init()`: wait for the runtime's `/next` (or its init error, exit or
        timeout); Init Duration counts from `started`. `lamina.pool.prewarm` joins here
        when it turns a pre-warmed runtime into this function's."""
        assert self.channel is not None and self.sandbox is not None and self._exit_task
        ready = asyncio.ensure_future(self.channel.ready.wait())
        done, _ = await asyncio.wait({ready, self._exit_task}, timeout=self._init_timeout(),
                                     return_when=asyncio.FIRST_COMPLETED)
        extensions = self.channel.extensions
        if ready in done and self.channel.init_error is None and self.bp.extensions:
            # Init ends when every extension has asked for its next event, too.
            remaining = self._init_timeout() - (time.perf_counter() - started)
            if not await extensions.wait_all_waiting(remaining) or extensions.init_error:
                self.channel.fail_init(Outcome(ok=False, error_type="Extension.InitError",
                                               payload=json.dumps(extensions.init_error or {
                                                   "errorType": "Extension.InitError",
                                                   "errorMessage": "an extension did not finish Init"}).encode()))
        extensions.closed = True
        init_ms = (time.perf_counter() - started) * 1000
        if ready in done and self.channel.init_error is None:
            self.sandbox.init_done()
            self.state = State.IDLE
            return init_ms
        ready.cancel()
        if self.channel.init_error is not None:
            self.init_error = self.channel.init_error
        elif self._exit_task in done:
            self.init_error = Outcome(ok=False, error_type="Runtime.ExitError",
                                      payload=self._exit_payload("", self._exit_task.result()))
        else:
            self.init_error = Outcome(ok=False, error_type="Sandbox.Timedout", payload=json.dumps({
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Init timed out after {self._init_timeout():.2f} seconds"}).encode())
        await self._stop_runtime()
        return init_ms

    def forget_init_output(self) -> None:
        """Init ran ahead of any request (provisioned): its output stays in the log stream
        but is not part of the first invocation's LogResult tail."""
        self._pending_init_lines = []

    def _init_timeout(self) -> float:
        return max(10.0, self.bp.timeout_s) if self.bp.initialization_type == "on-demand" else 600.0

    # -- invoke -----------------------------------------------------------------------------

    async def invoke(self, inv: Invocation, init_ms: float | None) -> Result:
        """Run one invocation. The caller marks the environment busy and releases it."""
        self._capture = _Capture(lines=self._pending_init_lines)
        self._pending_init_lines = []
        self._system(lines.start_line(inv.request_id, self.bp.version))
        started = time.perf_counter()
        outcome, reset = await self._run(inv)
        duration_ms = (time.perf_counter() - started) * 1000
        if inv.stream is not None:
            inv.stream.close()      # ends the client's stream, and frees a writer stuck on it
        if self._output is not None:
            self._output.drain()
            self._output.flush_partial()
        if outcome.error_type == "Sandbox.Timedout":
            self._system(lines.timeout_line(inv.request_id, self.bp.timeout_s))
        self._system(lines.end_line(inv.request_id))
        peak = self.sandbox.memory_peak_mb() if self.sandbox else 0
        self._system(lines.report_line(inv.request_id, duration_ms, self.bp.memory_mb, peak,
                                       init_ms, "timeout" if outcome.error_type == "Sandbox.Timedout" else None))
        captured = "\n".join(self._capture.lines) + "\n"
        self._capture = None
        tail = base64.b64encode(captured.encode()[-TAIL_BYTES:]).decode()
        self.invocations += 1
        self.last_used = time.monotonic()
        if reset:
            await self._stop_runtime("timeout" if outcome.error_type == "Sandbox.Timedout" else "failure")
        return Result(request_id=inv.request_id, payload=outcome.payload,
                      function_error=None if outcome.ok else "Unhandled", log_tail=tail,
                      duration_ms=duration_ms, init_ms=init_ms, error_type=outcome.error_type,
                      reset=reset)

    def _system(self, text: str) -> None:
        self._line(text)

    async def _run(self, inv: Invocation) -> tuple[Outcome, bool]:
        if self.init_error is not None:
            return self.init_error, True
        assert self.channel is not None and self.sandbox is not None and self._exit_task
        self.sandbox.reset_peak()
        if self.bp.extensions:
            self.channel.extensions.emit_invoke(inv.request_id, inv.deadline_ms,
                                                inv.invoked_function_arn, inv.trace_id)
        result = self.channel.submit(inv)
        remaining = max(0.0, inv.deadline_ms / 1000 - time.time())
        waiting: set[asyncio.Future[Any]] = {result, self._exit_task}
        done, _ = await asyncio.wait(waiting, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        if result in done:
            outcome = result.result()
            # After a 413 the runtime's state is unknown (the official clients exit); reset.
            return outcome, outcome.too_large
        self.channel.current = None
        if self._exit_task in done:
            status = self._exit_task.result()
            oom = self.sandbox.oom_killed()
            error_type = "Runtime.OutOfMemory" if oom else "Runtime.ExitError"
            return Outcome(ok=False, error_type=error_type,
                           payload=self._exit_payload(inv.request_id, status, oom)), True
        payload = json.dumps({
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {inv.request_id} Error: Task timed out after "
                            f"{self.bp.timeout_s:.2f} seconds"}).encode()
        return Outcome(ok=False, error_type="Sandbox.Timedout", payload=payload), True

    @staticmethod
    def _exit_payload(request_id: str, status: int, oom: bool = False) -> bytes:
        prefix = f"RequestId: {request_id} Error: " if request_id else "Error: "
        if oom or status == -9:
            reason = "Runtime exited with error: signal: killed"
        elif status < 0:
            reason = f"Runtime exited with error: signal: {_signal_name(-status)}"
        elif status == 0:
            reason = "Runtime exited without providing a reason"
        else:
            reason = f"Runtime exited with error: exit status {status}"
        error_type = "Runtime.OutOfMemory" if oom else "Runtime.ExitError"
        return json.dumps({"errorType": error_type, "errorMessage": prefix + reason}).encode()

    # -- teardown ---------------------------------------------------------------------------

    @property
    def unsettled(self) -> bool:
        """Extensions are still working on the last invocation (the environment is not free)."""
        ext = self.channel.extensions if self.channel else None
        return bool(self.bp.extensions and self.sandbox and ext and not ext.all_waiting())

    async def settle(self) -> None:
        """Wait (up to the function timeout) for extensions to finish the last invocation."""
        ext = self.channel.extensions if self.channel else None
        if ext is not None and not await ext.wait_all_waiting(self.bp.timeout_s):
            await self.reset()

    async def reset(self) -> None:
        """Kill the runtime; the next invocation runs Init again (AWS's reset)."""
        await self._stop_runtime()

    async def _shutdown_extensions(self, reason: str) -> None:
        """SHUTDOWN to the extensions that asked for it; they get up to 2,000 ms."""
        ext = self.channel.extensions if self.channel else None
        if ext is None or self.sandbox is None or self.sandbox.returncode() is not None:
            return
        deadline_ms = int(time.time() * 1000) + 2000
        if ext.emit_shutdown(reason, deadline_ms):
            await asyncio.sleep(0)            # let them pick the event up before waiting
            await ext.wait_all_waiting(2.0)

    async def _stop_runtime(self, reason: str = "failure") -> None:
        """Kill the runtime but keep /tmp and the log stream (AWS's reset)."""
        if self.sandbox is not None:
            await self._shutdown_extensions(reason)
            await self.sandbox.destroy()
        if self._exit_task is not None and not self._exit_task.done():
            self._exit_task.cancel()
        if self.channel is not None:
            await self.runtime_api.shut(self.channel)
        if self._output is not None:
            self._output.drain()
        self.sandbox = None
        self._exit_task = None
        if self.state != State.DEAD:
            self.state = State.NEW

    async def destroy(self) -> None:
        """Stop everything and delete /tmp. Idempotent."""
        if self.state == State.DEAD:
            return
        await self._stop_runtime("spindown")
        self.state = State.DEAD
        if self._output is not None:
            self._output.close()
            self._output = None
        release = getattr(self.backend, "release_tmp", None)
        if release is not None:
            await release(self.tmp)
        await asyncio.to_thread(_remove_tree, self.root)


def _signal_name(number: int) -> str:
    import signal
    try:
        return signal.Signals(number).name.lower().removeprefix("sig")
    except ValueError:
        return str(number)


def _remove_tree(path: Path) -> None:
    import shutil
    shutil.rmtree(path, ignore_errors=True)
