"""The durable queue behind `Event` invocations.

An event is committed to SQLite before the caller gets its 202 and is deleted
only after its final outcome is handled, so a crash (even `kill -9`) loses
nothing: at start-up, events that were running are queued again (delivery is
at-least-once, with the same request id). Workers respect the same admission
control as synchronous callers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("lamina.invoke.queue")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id           TEXT PRIMARY KEY,
    function     TEXT NOT NULL,
    qualifier    TEXT,
    request_id   TEXT NOT NULL,
    payload      BLOB NOT NULL,
    enqueued_at  REAL NOT NULL,
    next_at      REAL NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    throttles    INTEGER NOT NULL DEFAULT 0,
    running      INTEGER NOT NULL DEFAULT 0,
    meta         TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_due ON events(running, next_at);
"""


@dataclass
class QueuedEvent:
    id: str
    function: str
    qualifier: str | None
    request_id: str
    payload: bytes
    enqueued_at: float
    attempts: int
    throttles: int
    meta: dict[str, Any]


class EventStorage(Protocol):
    """Where queued events live: `EventStore` (SQLite, one server) or
    `queue_postgres.PostgresEventStore` (shared by replicas). `claim` hands an
    event to exactly one caller; it stays claimed until `retry` or `done`, or
    until `recover` decides its claimer died."""

    def add(self, function: str, qualifier: str | None, request_id: str, payload: bytes,
            meta: dict[str, Any] | None = None) -> str: ...
    def claim(self, limit: int) -> list[QueuedEvent]: ...
    def retry(self, event_id: str, delay_s: float, attempts: int, throttles: int,
              meta: dict[str, Any] | None = None) -> None: ...
    def done(self, event_id: str) -> None: ...
    def recover(self) -> int: ...
    def depth(self) -> int: ...
    def next_due(self) -> float | None: ...
    def close(self) -> None: ...


class EventStore:
    """SQLite `EventQueue` storage (the embedded default)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def add(self, function: str, qualifier: str | None, request_id: str, payload: bytes,
            meta: dict[str, Any] | None = None) -> str:
        event_id = uuid.uuid4().hex
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO events(id, function, qualifier, request_id, payload, enqueued_at, next_at, meta)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (event_id, function, qualifier, request_id, payload, now, now, json.dumps(meta or {})))
        return event_id

    def claim(self, limit: int) -> list[QueuedEvent]:
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            rows = self._db.execute(
                "SELECT id, function, qualifier, request_id, payload, enqueued_at, attempts, throttles, meta"
                " FROM events WHERE running=0 AND next_at<=? ORDER BY next_at LIMIT ?",
                (now, limit)).fetchall()
            self._db.executemany("UPDATE events SET running=1 WHERE id=?", [(r[0],) for r in rows])
            self._db.execute("COMMIT")
        return [QueuedEvent(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6], r[7], json.loads(r[8]))
                for r in rows]

    def retry(self, event_id: str, delay_s: float, attempts: int, throttles: int,
              meta: dict[str, Any] | None = None) -> None:
        """Queue the event again after `delay_s`; `meta` (if given) replaces its notes."""
        with self._lock:
            if meta is None:
                self._db.execute(
                    "UPDATE events SET running=0, next_at=?, attempts=?, throttles=? WHERE id=?",
                    (time.time() + delay_s, attempts, throttles, event_id))
            else:
                self._db.execute(
                    "UPDATE events SET running=0, next_at=?, attempts=?, throttles=?, meta=? WHERE id=?",
                    (time.time() + delay_s, attempts, throttles, json.dumps(meta), event_id))

    def done(self, event_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM events WHERE id=?", (event_id,))

    def recover(self) -> int:
        """Events that were running when the server stopped are queued again."""
        with self._lock:
            return self._db.execute("UPDATE events SET running=0 WHERE running=1").rowcount

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def next_due(self) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT MIN(next_at) FROM events WHERE running=0").fetchone()
        return row[0] if row and row[0] is not None else None

    def close(self) -> None:
        with self._lock:
            self._db.close()


# The worker's verdict on one attempt, returned by the `deliver` callback.
Deliver = Callable[[QueuedEvent], Awaitable[None]]


class AsyncQueue:
    """Claims due events and hands each to `deliver`, at most `workers` at a time.

    `deliver` owns the event's fate: it must end with `store.done()` or
    `store.retry()`; if it raises, the event is retried after a short backoff.
    """

    def __init__(self, store: EventStorage, deliver: Deliver, workers: int = 64,
                 on_enqueue: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.deliver = deliver
        self.workers = workers
        self.on_enqueue = on_enqueue      # counts AsyncEventsReceived (function name as given)
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        recovered = self.store.recover()
        if recovered:
            log.info("re-queued %d events that were running at the last stop", recovered)
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def enqueue(self, function: str, qualifier: str | None, request_id: str, payload: bytes,
                meta: dict[str, Any] | None = None) -> str:
        """Commit the event to disk (before the caller answers 202) and wake a worker."""
        event_id = self.store.add(function, qualifier, request_id, payload, meta)
        self._wake.set()
        if self.on_enqueue is not None:
            self.on_enqueue(function)
        return event_id

    async def _loop(self) -> None:
        while True:
            free = self.workers - len(self._running)
            try:
                batch = self.store.claim(free) if free > 0 else []
            except Exception:
                log.exception("claiming queued events failed; trying again in 1 s")
                await asyncio.sleep(1.0)
                continue
            for event in batch:
                task = asyncio.get_running_loop().create_task(self._one(event))
                self._running.add(task)
                task.add_done_callback(self._finished)
            if batch and free - len(batch) > 0:
                continue
            try:
                due = self.store.next_due()
            except Exception:
                due = None
            wait = 1.0 if due is None else max(0.0, min(1.0, due - time.time()))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait if free > 0 else 1.0)
            except TimeoutError:
                pass

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()

    async def _one(self, event: QueuedEvent) -> None:
        try:
            await self.deliver(event)
        except Exception:
            log.exception("delivering event %s failed; retrying", event.id)
            self.store.retry(event.id, 5.0, event.attempts, event.throttles)

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        self.store.close()
