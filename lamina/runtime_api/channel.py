"""The exchange between one execution environment and its runtime.

The pool puts an `Invocation` into the channel; the runtime takes it with
`GET /next` and answers with `/response` or `/error`. The channel knows nothing
about aliases, concurrency or sandboxes (DESIGN.md).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any


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


@dataclass
class Outcome:
    """What the runtime said about one invocation (or about init)."""

    ok: bool
    payload: bytes = b""
    error_type: str | None = None          # Lambda-Runtime-Function-Error-Type
    too_large: bool = False


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
