"""PostgreSQL `MetadataStore`: what several control-plane replicas share.

Same contract as the SQLite store: JSON documents by (kind, key), stored as
JSONB; `scan` returns keys in byte order (the key column is `COLLATE "C"`, which
is what SQLite's BINARY collation gives), whatever the database's locale.

Serialisation: every write, and every `transaction()`, first takes one
transaction-scoped advisory lock (`pg_advisory_xact_lock`), so writers across
all replicas run one at a time, exactly like SQLite's single writer (`BEGIN
IMMEDIATE`). Row locks (`SELECT … FOR UPDATE`) were rejected: callers do
read-check-write on keys that may not exist yet (CreateFunction checks the name
is free, then inserts), and a row lock cannot lock a row that is not there, so
two replicas could both create the same function. SERIALIZABLE with retries was
rejected too: transaction bodies have side effects (blob uploads, listeners)
that cannot be re-run safely. Control-plane writes are rare and short, so one
lock costs nothing measurable; reads never wait for it.

One connection per store (`PgSession`), guarded by a re-entrant lock: calls
come from the event loop and from worker threads, as with SQLite. A broken
connection is reopened on the next call; a statement outside a transaction is
retried once on the new connection (every statement here is idempotent).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg.types.json import Jsonb

from lamina.errors import ServiceException
from lamina.store.base import Doc, MetadataStore

T = TypeVar("T")

# pg_advisory_xact_lock key shared by every Lamina replica on this database ("lamina" in ASCII).
WRITE_LOCK = 0x6C616D696E61

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lamina_docs (
    kind TEXT NOT NULL,
    key  TEXT COLLATE "C" NOT NULL,
    doc  JSONB NOT NULL,
    PRIMARY KEY (kind, key)
)
"""


def connect(url: str) -> psycopg.Connection[Any]:
    """An autocommit connection; explicit transactions use `conn.transaction()`."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10,
                               application_name="lamina")
    except psycopg.Error as exc:
        raise ServiceException(f"cannot connect to PostgreSQL: {exc}") from exc


class PgSession:
    """One connection shared by threads under a re-entrant lock, reopened when broken.

    `run(fn)` calls `fn(conn)` as its own transaction (after taking the advisory
    lock `lock_key`, if given) or, while `depth` > 0, inside the caller's open
    transaction. psycopg errors leave as `ServiceException` (STYLE §9).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.lock = threading.RLock()
        self.depth = 0                 # > 0 while a transaction() is open on `conn`
        self.conn = connect(url)

    def ensure(self) -> psycopg.Connection[Any]:
        if self.conn.closed or self.conn.broken:
            self.conn = connect(self.url)
        return self.conn

    def run(self, fn: Callable[[psycopg.Connection[Any]], T], lock_key: int | None = None) -> T:
        with self.lock:
            if self.depth:
                return guard(lambda: fn(self.conn))
            for attempt in (1, 2):
                db = self.ensure()
                try:
                    if lock_key is None:
                        return fn(db)
                    with db.transaction():
                        db.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
                        return fn(db)
                except psycopg.OperationalError as exc:
                    if attempt == 2 or not db.broken:
                        raise ServiceException(f"PostgreSQL error: {exc}") from exc
                except psycopg.Error as exc:
                    raise ServiceException(f"PostgreSQL error: {exc}") from exc
            raise AssertionError("unreachable")

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def guard(call: Callable[[], T]) -> T:
    try:
        return call()
    except psycopg.Error as exc:
        raise ServiceException(f"PostgreSQL error: {exc}") from exc


class PostgresMetadataStore(MetadataStore):
    """Shared by any number of processes; each opens its own connection."""

    def __init__(self, url: str) -> None:
        self._pg = PgSession(url)
        # Two replicas starting at once would race on CREATE TABLE IF NOT EXISTS.
        self._pg.run(lambda db: db.execute(_SCHEMA), lock_key=WRITE_LOCK)

    # -- MetadataStore ---------------------------------------------------------------------------

    def get(self, kind: str, key: str) -> Doc | None:
        row = self._pg.run(lambda db: db.execute(
            "SELECT doc FROM lamina_docs WHERE kind=%s AND key=%s", (kind, key)).fetchone())
        return dict(row[0]) if row else None

    def put(self, kind: str, key: str, doc: Doc) -> None:
        self._pg.run(lambda db: db.execute(
            "INSERT INTO lamina_docs(kind, key, doc) VALUES (%s, %s, %s)"
            " ON CONFLICT (kind, key) DO UPDATE SET doc = EXCLUDED.doc",
            (kind, key, Jsonb(doc))), lock_key=WRITE_LOCK)

    def delete(self, kind: str, key: str) -> bool:
        count = self._pg.run(lambda db: db.execute(
            "DELETE FROM lamina_docs WHERE kind=%s AND key=%s", (kind, key)).rowcount,
            lock_key=WRITE_LOCK)
        return count > 0

    def scan(self, kind: str, prefix: str = "") -> list[tuple[str, Doc]]:
        # `^@` (starts_with) uses the primary-key b-tree under the "C" collation.
        rows = self._pg.run(lambda db: db.execute(
            "SELECT key, doc FROM lamina_docs WHERE kind=%s AND key ^@ %s ORDER BY key",
            (kind, prefix)).fetchall())
        return [(k, dict(d)) for k, d in rows]

    def delete_prefix(self, kind: str, prefix: str) -> int:
        return self._pg.run(lambda db: db.execute(
            "DELETE FROM lamina_docs WHERE kind=%s AND key ^@ %s", (kind, prefix)).rowcount,
            lock_key=WRITE_LOCK)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        pg = self._pg
        with pg.lock:
            if pg.depth:                  # nested use joins the outer transaction
                pg.depth += 1
                try:
                    yield
                finally:
                    pg.depth -= 1
                return
            db = guard(pg.ensure)
            tx = db.transaction()
            guard(tx.__enter__)
            pg.depth = 1
            try:
                guard(lambda: db.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,)))
                yield
            except BaseException as exc:
                pg.depth = 0
                try:
                    tx.__exit__(type(exc), exc, exc.__traceback__)   # rolls back
                except psycopg.Error:
                    pass          # the connection is gone, and the transaction with it
                raise
            pg.depth = 0
            guard(lambda: tx.__exit__(None, None, None))            # commits

    def close(self) -> None:
        self._pg.close()
