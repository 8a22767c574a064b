"""The exchange between one execution environment and its runtime.

The pool puts an `Invocation` into the channel; the runtime takes it with
`GET /next` and answers with `/response` or `/error`. The channel knows nothing
about aliases, concurrency or sandboxes (DESIGN.md).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

STREAM_CONTENT_TYPE = "application/octet-stream"


class ResponseStream:
    """The bytes of one streamed response on their way from the runtime to a client.

    The invoke layer creates it (InvokeWithResponseStream, RESPONSE_STREAM function
    URLs) and hangs it on the `Invocation`; the Runtime API calls `start()` when the
    runtime opens a `streaming` /response and `put()`s each chunk as it arrives; the
    client side iterates it. Iteration ends after `close()`, which whoever finishes
    first calls (the Runtime API at the end of the body, the invoke layer when the
    invocation is over for any reason: timeout, crash, error). `put()` blocks while
    more than `high_water` bytes wait for the client, so a slow client slows the
    runtime down instead of filling memory; after `abandon()` (the client left) data
    is dropped and `put()` never blocks.
    """

    def __init__(self, high_water: int = 1024 * 1024) -> None:
        self.high_water = high_water
        self.content_type = STREAM_CONTENT_TYPE
        self.executed_version: str | None = None   # set by the invoker once it picked one
        self.started = asyncio.Event()             # the runtime opened a streaming /response
        self.size = 0                              # bytes the runtime sent so far
        self._chunks: deque[bytes] = deque()
        self._waiting = 0
        self._closed = False
        self._abandoned = False
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    def start(self, content_type: str | None) -> None:
        self.content_type = content_type or STREAM_CONTENT_TYPE
        self.started.set()

    async def put(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self._closed or self._abandoned or not chunk:
            return
        while self._waiting >= self.high_water and not (self._closed or self._abandoned):
            self._writable.clear()
            await self._writable.wait()
        if self._closed or self._abandoned:
            return
        self._chunks.append(chunk)
        self._waiting += len(chunk)
        self._readable.set()

    def close(self) -> None:
        """No more data: iteration ends once the queued chunks are read. Idempotent."""
        self._closed = True
        self._readable.set()
        self._writable.set()

    def abandon(self) -> None:
        """The client is gone: drop queued and future data, release blocked writers."""
        self._abandoned = True
        self._chunks.clear()
        self._waiting = 0
        self._writable.set()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._waiting -= len(chunk)
                if self._waiting < self.high_water:
                    self._writable.set()
                yield chunk
            elif self._closed:
                return
            else:
                self._readable.clear()
                await self._readable.wait()


@dataclass
class Invocation:
    request_id: str
    payload: bytes
    deadline_ms: int
    invoked_function_arn: str
    trace_id: str = ""
    client_context: str | None = None     # JSON text, already base64-decoded
    cognito_identity: str | None = None
    tenant_id: str | None = None
    # Where a `streaming` /response goes as it arrives (None: the response is buffered).
    stream: ResponseStream | None = None
    # Lamina's own Python bootstrap in standby (lamina.pool.prewarm): the body is the
    # function's environment to take on, sent with `Lamina-Specialize: 1`; no answer.
    specialize: bool = False


@dataclass
class Outcome:
    """What the runtime said about one invocation (or about init)."""

    ok: bool
    payload: bytes = b""
    error_type: str | None = None          # Lambda-Runtime-Function-Error-Type
    too_large: bool = False
    streamed: bool = False                 # the body went to `Invocation.stream`, not `payload`


@dataclass
class RuntimeChannel:
    env_id: str
    function_name: str = ""
    function_version: str = ""
    handler: str = ""
    account_id: str = ""
    response_limit: int = 6 * 1024 * 1024 + 100
    port: int = 0                          # the loopback port of its Runtime API listener
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    init_error: Outcome | None = None
    current: Invocation | None = None
    result: asyncio.Future[Outcome] | None = None
    _queue: asyncio.Queue[Invocation] = field(default_factory=asyncio.Queue)
    # The environment's extensions (lamina.runtime_api.extensions.Extensions), if any.
    extensions: Any = None
    # Host pids of the environment's sandbox: only they may use this Runtime API.
    pids: Callable[[], list[int]] | None = None

    def submit(self, invocation: Invocation) -> asyncio.Future[Outcome]:
        """Hand an invocation to the runtime; the future resolves with its outcome."""
        self.result = asyncio.get_running_loop().create_future()
        self.current = invocation
        self._queue.put_nowait(invocation)
        return self.result

    async def next(self) -> Invocation:
        """The runtime is ready for work: mark init done and wait for the next event."""
        self.ready.set()
        return await self._queue.get()

    def finish(self, request_id: str, outcome: Outcome) -> bool:
        if self.current is None or self.current.request_id != request_id:
            return False
        if self.result is not None and not self.result.done():
            self.result.set_result(outcome)
        self.current = None
        return True

    def fail_init(self, outcome: Outcome) -> None:
        self.init_error = outcome
        self.ready.set()
