"""The async event queue on PostgreSQL, shared by every control-plane replica.

Same contract as the SQLite `EventStore` (see `queue.EventStorage`): an event is
committed before the caller gets its 202 and deleted only after its final
outcome. What changes with several replicas is who may run an event:

- `claim` takes due events with `FOR UPDATE SKIP LOCKED`, so replicas claiming
  at the same moment skip each other's rows instead of waiting or taking the
  same event twice.
- A claim is a lease: `claimed_by` names the replica and `lease_until` (the
  database's clock, so replicas with skewed clocks agree) says how long the
  claim holds. Each store renews, from a heartbeat thread every `lease_s / 3`,
  the leases of the events it handed out and has not yet seen `retry`/`done`
  for, however long the function runs. An event whose `retry`/`done` failed
  (database away) is no longer renewed, so it lapses and runs again rather
  than staying claimed for ever.
- A lease that was not renewed means its replica died (or lost the database for
  longer than `lease_s`): any live replica's heartbeat puts the event back in
  the queue, and `recover()` does the same at start-up, plus every event still
  claimed under this replica's own id, whose previous process is by definition
  gone. Events of live replicas are never touched.
- `retry` and `done` only act on an event this replica still holds, so a
  replica that lost its lease cannot undo the new claimer's work. Delivery stays
  at-least-once with the same request id, as with SQLite.

Due times (`next_at`, `enqueued_at`) are this host's epoch seconds, as in the
SQLite store, because `Delivery` compares them with `time.time()`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from lamina.invoke.queue import QueuedEvent
from lamina.store.postgres import PgSession

log = logging.getLogger("lamina.invoke.queue")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lamina_events (
    id           TEXT PRIMARY KEY,
    function     TEXT NOT NULL,
    qualifier    TEXT,
    request_id   TEXT NOT NULL,
    payload      BYTEA NOT NULL,
    enqueued_at  DOUBLE PRECISION NOT NULL,
    next_at      DOUBLE PRECISION NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    throttles    INTEGER NOT NULL DEFAULT 0,
    claimed_by   TEXT,                 -- replica id while running; NULL while queued
    lease_until  TIMESTAMPTZ,          -- the claim lapses after this unless renewed
    meta         JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS lamina_events_due ON lamina_events (next_at) WHERE claimed_by IS NULL;
CREATE INDEX IF NOT EXISTS lamina_events_claims ON lamina_events (claimed_by) WHERE claimed_by IS NOT NULL;
"""

# Advisory lock key for schema creation ("lamq" in ASCII): replicas may start at once.
_SCHEMA_LOCK = 0x6C616D71


def replica_id(data_dir: Path) -> str:
    """This replica's stable name, kept in its data dir so a restart can reclaim its events.

    Every replica needs its own data dir (it also holds the code cache and
    sandbox state); two live processes sharing one id would re-queue each
    other's running events at start-up.
    """
    path = data_dir / "replica-id"
    if not path.exists():
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        tmp.write_text(f"{uuid.uuid4().hex[:16]}\n")
        tmp.replace(path)
    return path.read_text().strip()


class PostgresEventStore:
    """`EventStorage` on PostgreSQL. Owns a heartbeat thread until `close()`."""

    def __init__(self, url: str, replica: str | None = None, lease_s: float = 30.0) -> None:
        self.replica = replica or uuid.uuid4().hex[:16]
        self.lease_s = lease_s
        self._pg = PgSession(url)
        self._pg.run(lambda db: db.execute(_SCHEMA), lock_key=_SCHEMA_LOCK)
        self._held: set[str] = set()        # claimed here, outcome not yet recorded
        self._held_lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name="lamina-queue-lease",
                                           daemon=True)
        self._heartbeat.start()

    def add(self, function: str, qualifier: str | None, request_id: str, payload: bytes,
            meta: dict[str, Any] | None = None) -> str:
        event_id = uuid.uuid4().hex
        now = time.time()
        self._pg.run(lambda db: db.execute(
            "INSERT INTO lamina_events(id, function, qualifier, request_id, payload, enqueued_at,"
            " next_at, meta) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
            (event_id, function, qualifier, request_id, payload, now, now, Jsonb(meta or {}))))
        return event_id

    def claim(self, limit: int) -> list[QueuedEvent]:
        if limit <= 0:
            return []
        rows = self._pg.run(lambda db: db.execute(
            "UPDATE lamina_events e SET claimed_by = %(me)s,"
            "  lease_until = now() + make_interval(secs => %(lease)s)"
            " FROM (SELECT id FROM lamina_events WHERE claimed_by IS NULL AND next_at <= %(now)s"
            "       ORDER BY next_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED) due"
            " WHERE e.id = due.id RETURNING e.next_at, e.id, e.function, e.qualifier, e.request_id,"
            "  e.payload, e.enqueued_at, e.attempts, e.throttles, e.meta",
            {"me": self.replica, "lease": self.lease_s, "now": time.time(), "limit": limit})
            .fetchall())
        rows.sort(key=lambda r: r[0])       # RETURNING has no order; keep the queue's
        with self._held_lock:
            self._held.update(r[1] for r in rows)
        return [QueuedEvent(r[1], r[2], r[3], r[4], bytes(r[5]), r[6], r[7], r[8], dict(r[9]))
                for r in rows]

    def retry(self, event_id: str, delay_s: float, attempts: int, throttles: int,
              meta: dict[str, Any] | None = None) -> None:
        """Queue the event again after `delay_s`; `meta` (if given) replaces its notes."""
        next_at = time.time() + delay_s
        self._release(event_id)
        self._pg.run(lambda db: db.execute(
            "UPDATE lamina_events SET claimed_by = NULL, lease_until = NULL, next_at = %s,"
            " attempts = %s, throttles = %s, meta = COALESCE(%s, meta)"
            " WHERE id = %s AND claimed_by = %s",
            (next_at, attempts, throttles, None if meta is None else Jsonb(meta), event_id,
             self.replica)))

    def done(self, event_id: str) -> None:
        self._release(event_id)
        self._pg.run(lambda db: db.execute(
            "DELETE FROM lamina_events WHERE id = %s AND claimed_by = %s",
            (event_id, self.replica)))

    def recover(self) -> int:
        """Re-queue events whose claimer is dead: lease lapsed, or this replica's past self."""
        return int(self._pg.run(lambda db: db.execute(
            "UPDATE lamina_events SET claimed_by = NULL, lease_until = NULL"
            " WHERE claimed_by IS NOT NULL AND (claimed_by = %s OR lease_until < now())",
            (self.replica,)).rowcount))

    def depth(self) -> int:
        row = self._pg.run(lambda db: db.execute("SELECT COUNT(*) FROM lamina_events").fetchone())
        return int(row[0]) if row else 0

    def next_due(self) -> float | None:
        row = self._pg.run(lambda db: db.execute(
            "SELECT MIN(next_at) FROM lamina_events WHERE claimed_by IS NULL").fetchone())
        return float(row[0]) if row and row[0] is not None else None

    def close(self) -> None:
        self._stop.set()
        self._heartbeat.join(timeout=5)
        self._pg.close()

    # -- leases ----------------------------------------------------------------------------------

    def _release(self, event_id: str) -> None:
        with self._held_lock:
            self._held.discard(event_id)

    def renew(self) -> int:
        """Extend the leases of the events in hand; the heartbeat calls it every `lease_s / 3`."""
        with self._held_lock:
            held = list(self._held)
        if not held:
            return 0
        return int(self._pg.run(lambda db: db.execute(
            "UPDATE lamina_events SET lease_until = now() + make_interval(secs => %s)"
            " WHERE claimed_by = %s AND id = ANY(%s)", (self.lease_s, self.replica, held)).rowcount))

    def reap(self) -> int:
        """Re-queue events whose lease lapsed (their replica died); safe from any replica."""
        return int(self._pg.run(lambda db: db.execute(
            "UPDATE lamina_events SET claimed_by = NULL, lease_until = NULL"
            " WHERE claimed_by IS NOT NULL AND lease_until < now()").rowcount))

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                self.renew()
                reaped = self.reap()
                if reaped:
                    log.warning("re-queued %d events whose replica stopped renewing its lease",
                                reaped)
            except Exception:
                log.exception("renewing event leases failed")
