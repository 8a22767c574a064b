"""SQLite `MetadataStore`: one file in the data dir, WAL mode, the embedded default."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lamina.store.base import Doc, MetadataStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL,
    key  TEXT NOT NULL,
    doc  TEXT NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
"""


class SqliteMetadataStore(MetadataStore):
    """Safe for one process. Calls are short and run on the caller's thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._depth = 0

    def get(self, kind: str, key: str) -> Doc | None:
        with self._lock:
            row = self._db.execute("SELECT doc FROM docs WHERE kind=? AND key=?",
                                   (kind, key)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, kind: str, key: str, doc: Doc) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO docs(kind, key, doc) VALUES (?,?,?)",
                             (kind, key, json.dumps(doc, separators=(",", ":"))))

    def delete(self, kind: str, key: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM docs WHERE kind=? AND key=?", (kind, key))
        return cur.rowcount > 0

    def scan(self, kind: str, prefix: str = "") -> list[tuple[str, Doc]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, doc FROM docs WHERE kind=? AND substr(key, 1, ?)=? ORDER BY key",
                (kind, len(prefix), prefix)).fetchall()
        return [(k, json.loads(d)) for k, d in rows]

    def delete_prefix(self, kind: str, prefix: str) -> int:
        with self._lock:
            cur = self._db.execute("DELETE FROM docs WHERE kind=? AND substr(key, 1, ?)=?",
                                   (kind, len(prefix), prefix))
        return cur.rowcount

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
