"""A real Runtime API server and a runtime-process launcher for testing runtime bootstraps.

The runtime tests (tests/integration/test_*_bootstrap.py, test_java_runtime.py,
test_dotnet_runtime.py) start a bootstrap as a plain subprocess, without a sandbox, against
`RuntimeApi`: a small aiohttp implementation of the 2018-06-01 Runtime API on 127.0.0.1. It
is deliberately not the platform's own server (lamina/runtime_api/): these tests pin down the
runtime's side of the protocol, so the server side here does only what the protocol says and
records everything the runtime sends.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from lamina.runtimes.base import Launch, LaunchContext

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:fn"
TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
LOG_STREAM = "2024/01/01/[$LATEST]0123456789abcdef0123456789abcdef"


@dataclass
class Outcome:
    """One POST from the runtime: an invocation's /response or /error, or /init/error."""

    kind: str                      # "response", "error" or "init_error"
    request_id: str | None         # from the URL; None for init_error
    headers: dict[str, str]        # as sent (a plain dict: header case is checked too)
    body: bytes
    received: float = 0.0          # time.monotonic() when the post arrived
    seconds: float = 0.0           # for invoke(): from queueing the event to this post

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_type(self) -> str | None:
        """Lambda-Runtime-Function-Error-Type, whatever case the runtime sent it in."""
        return next((v for k, v in self.headers.items()
                     if k.lower() == "lambda-runtime-function-error-type"), None)


class RuntimeApi:
    """The server side of the Runtime API for one runtime process, on 127.0.0.1:`port`.

    aiohttp runs on its own event loop in a daemon thread; every public method is called
    from the test's thread. Events queue up until the runtime's GET /next takes them.
    Every POST is recorded, in arrival order, in `posted`; the first /init/error also
    settles the `init_error` future. Use as `with RuntimeApi() as api:` or start()/close().

    Knobs a test may set before the events they concern: `chunked_next` sends /next bodies
    with Transfer-Encoding: chunked (7-byte chunks); `close_after_post` answers posts with
    Connection: close.
    """

    def __init__(self) -> None:
        self.port = 0
        self.posted: queue.Queue[Outcome] = queue.Queue()
        self.init_error: Future[Outcome] = Future()
        self.next_times: list[float] = []      # time.monotonic() of every GET /next
        self.peers: set[object] = set()        # client addresses seen: one per connection
        self.chunked_next = False
        self.close_after_post = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def first_next_at(self) -> float | None:
        return self.next_times[0] if self.next_times else None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        return self

    def close(self) -> None:
        """Stop serving and end the thread. Kill the runtime first: a /next it leaves
        waiting is cancelled when its connection drops (handler_cancellation)."""
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    async def _serve(self) -> None:
        self._events: asyncio.Queue[tuple[bytes, dict[str, str]]] = asyncio.Queue()
        app = web.Application()
        app.router.add_get(f"{PREFIX}/invocation/next", self._next)
        app.router.add_post(f"{PREFIX}/invocation/{{id}}/response", self._post)
        app.router.add_post(f"{PREFIX}/invocation/{{id}}/error", self._post)
        app.router.add_post(f"{PREFIX}/init/error", self._post)
        # A short shutdown: the runtime is dead by then and nothing is left to finish.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    # ------------------------------------------------------------------ handlers

    def _peer(self, request: web.Request) -> None:
        self.peers.add(request.transport.get_extra_info("peername") if request.transport else None)

    async def _next(self, request: web.Request) -> web.StreamResponse:
        self.next_times.append(time.monotonic())
        self._peer(request)
        body, headers = await self._events.get()
        if not self.chunked_next:
            return web.Response(body=body, headers=headers)
        stream = web.StreamResponse(headers=headers)
        stream.enable_chunked_encoding()
        await stream.prepare(request)
        for i in range(0, len(body), 7):
            await stream.write(body[i:i + 7])
        await stream.write_eof()
        return stream

    async def _post(self, request: web.Request) -> web.Response:
        self._peer(request)
        init = request.path.startswith(f"{PREFIX}/init/")
        kind = "init_error" if init else request.path.rsplit("/", 1)[1]   # response | error
        outcome = Outcome(kind, request.match_info.get("id"), dict(request.headers),
                          await request.read(), time.monotonic())
        self.posted.put(outcome)
        if outcome.kind == "init_error" and not self.init_error.done():
            self.init_error.set_result(outcome)
        response = web.json_response({"status": "OK"}, status=202)
        if self.close_after_post:
            response.force_close()
        return response

    # ------------------------------------------------------------------ the test's side

    def send(self, event: object = b"{}", *, request_id: str | None = None,
             headers: Mapping[str, str | None] | None = None, deadline_s: float = 30.0) -> str:
        """Queue one event for /next and return its request id at once.

        `event` bytes are sent as they are, anything else as JSON. `headers` are added to
        the /next response's; a None value removes a default one (e.g. the trace id).
        """
        request_id = request_id or str(uuid.uuid4())
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        merged: dict[str, str | None] = {
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": str(int((time.time() + deadline_s) * 1000)),
            "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
            "Lambda-Runtime-Trace-Id": TRACE_ID,
            "Content-Type": "application/json",
            **(headers or {}),
        }
        sent = {k: v for k, v in merged.items() if v is not None}
        self._loop.call_soon_threadsafe(self._events.put_nowait, (body, sent))
        return request_id

    def wait_posted(self, timeout: float = 10.0) -> Outcome:
        """The runtime's next POST not yet taken; queue.Empty after `timeout` seconds."""
        return self.posted.get(timeout=timeout)

    def invoke(self, event: object = b"{}", *, request_id: str | None = None,
               headers: Mapping[str, str | None] | None = None, deadline_s: float = 30.0,
               wait: float = 20.0) -> Outcome:
        """send() an event and return the runtime's answer to it, with `seconds` set.

        The next POST must be that answer: anything else (an init error, a post for another
        request) fails the test with an AssertionError naming what came instead.
        """
        started = time.monotonic()
        request_id = self.send(event, request_id=request_id, headers=headers, deadline_s=deadline_s)
        outcome = self.wait_posted(wait)
        assert outcome.request_id == request_id, f"expected the answer to {request_id}, got {outcome}"
        outcome.seconds = outcome.received - started
        return outcome

    def wait_init_error(self, timeout: float = 20.0) -> Outcome:
        return self.init_error.result(timeout)


# --------------------------------------------------------------------------- runtime processes


def write_task(task: Path, files: dict[str, str]) -> Path:
    """Create the function's code folder `task` holding `files` (relative path -> text)."""
    task.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (task / name).parent.mkdir(parents=True, exist_ok=True)
        (task / name).write_text(text)
    return task


class Proc:
    """A runtime process started in `task` (its working directory), stdout and stderr both
    written to `log_path`. A file rather than a pipe: what the runtime flushed before its
    POST is in log() as soon as the POST has arrived. The caller owns kill()."""

    def __init__(self, argv: list[str], env: dict[str, str], task: Path, log_path: Path) -> None:
        self.task = task
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.started = time.monotonic()
            self.process = subprocess.Popen(argv, env=env, cwd=task, stdout=log,
                                            stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_bytes().decode()  # bytes: keep "\r" as written

    def wait_log(self, text: str, timeout: float = 5.0) -> str:
        """The log once it contains `text` (for lines written after the last POST), or as it
        is after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while text not in self.log() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.log()

    def wait(self, timeout: float = 10.0) -> int:
        return self.process.wait(timeout)

    def cpu_ms(self) -> float:
        """CPU time (user + system) the process has used so far: a start-up cost that, unlike
        wall time, does not depend on what else the machine is running."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


class Launcher:
    """Starts runtime processes as the platform does, but without a sandbox: the family's
    Launch with /var/runtime mapped to its host folder, the platform's variables (spec §3)
    pointing at `api` and the host task folder. Logs go to `logs`/log-<n>.txt. The owner
    calls kill_all() when done (a fixture's teardown)."""

    def __init__(self, api: RuntimeApi, logs: Path) -> None:
        self.api = api
        self.logs = logs
        self.procs: list[Proc] = []

    def start(self, ctx: LaunchContext, launch: Launch, memory: int = 128,
              env: dict[str, str] | None = None) -> Proc:
        """Run `launch` (= family.launch(ctx)); `env` goes on top of everything else."""
        assert launch.runtime_dir is not None
        runtime_dir = str(launch.runtime_dir)
        environ = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self.api.port}",
            "_HANDLER": ctx.handler,
            "LAMBDA_TASK_ROOT": str(ctx.code_dir),
            "LAMBDA_RUNTIME_DIR": runtime_dir,
            "AWS_LAMBDA_FUNCTION_NAME": "fn",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
            "AWS_LAMBDA_LOG_STREAM_NAME": LOG_STREAM,
            "AWS_REGION": "us-east-1",
            "TZ": ":UTC",
            **launch.env,
            **(env or {}),
        }
        argv = [arg.replace("/var/runtime", runtime_dir) for arg in launch.argv]
        proc = Proc(argv, environ, ctx.code_dir, self.logs / f"log-{len(self.procs)}.txt")
        self.procs.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.procs:
            proc.kill()
