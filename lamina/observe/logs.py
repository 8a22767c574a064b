"""CloudWatch-style logs: groups (`/aws/lambda/<fn>`), streams, events.

Events are buffered in memory and appended to one file per stream by a
background flusher, so the invoke path never touches the disk. Each line of a
stream file is ``<epoch ms>\\t<message>`` with the message's own newlines escaped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote


@dataclass(frozen=True)
class LogEvent:
    timestamp_ms: int
    message: str


def stream_name(version: str) -> str:
    """AWS's `YYYY/MM/DD/[<version>]<32 hex>`."""
    today = dt.datetime.now(dt.UTC).strftime("%Y/%m/%d")
    return f"{today}/[{version}]{secrets.token_hex(16)}"


def _escape(message: str) -> str:
    # \r too: runtimes join the lines of one record with \r (Python's error records do).
    return message.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\n" if nxt == "n" else "\r" if nxt == "r" else nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


class LogStore:
    def __init__(self, root: Path, flush_interval_s: float = 0.25) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._pending: dict[tuple[str, str], list[str]] = defaultdict(list)
        self._lock = threading.Lock()
        self._interval = flush_interval_s
        self._task: asyncio.Task[None] | None = None

    def _path(self, group: str, stream: str) -> Path:
        return self.root / quote(group, safe="") / (quote(stream, safe="") + ".log")

    def put(self, group: str, stream: str, message: str, timestamp_ms: int | None = None) -> None:
        ts = timestamp_ms if timestamp_ms is not None else int(dt.datetime.now().timestamp() * 1000)
        with self._lock:
            self._pending[(group, stream)].append(f"{ts}\t{_escape(message)}\n")

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, defaultdict(list)
        for (group, stream), lines in pending.items():
            path = self._path(group, stream)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as fh:
                fh.writelines(lines)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if self._pending:
                await asyncio.to_thread(self.flush)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
        self.flush()

    # -- reading ----------------------------------------------------------------------------

    def groups(self) -> list[str]:
        self.flush()
        return sorted(unquote(p.name) for p in self.root.iterdir() if p.is_dir())

    def streams(self, group: str) -> list[tuple[str, float]]:
        """(stream name, last write time) newest first."""
        self.flush()
        folder = self.root / quote(group, safe="")
        if not folder.exists():
            return []
        found = [(unquote(p.name[:-4]), p.stat().st_mtime) for p in folder.glob("*.log")]
        return sorted(found, key=lambda s: s[1], reverse=True)

    def events(self, group: str, stream: str) -> Iterator[LogEvent]:
        self.flush()
        path = self._path(group, stream)
        if not path.exists():
            return
        with open(path, encoding="utf-8", newline="\n") as fh:
            for line in fh:
                ts, _, msg = line.rstrip("\n").partition("\t")
                yield LogEvent(int(ts), _unescape(msg))

    def delete_group(self, group: str) -> None:
        folder = self.root / quote(group, safe="")
        if folder.exists():
            for p in folder.iterdir():
                os.unlink(p)
            folder.rmdir()
