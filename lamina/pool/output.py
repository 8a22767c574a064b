"""Collects a sandbox's stdout/stderr into log lines without blocking the event loop.

The runtime writes its log lines before it posts `/response`, so once the
response has arrived everything it logged is already in the pipe: `drain()`
reads it synchronously, which keeps log lines ahead of the END line.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable


class OutputCollector:
    def __init__(self, on_line: Callable[[str], None]) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self._on_line = on_line
        self._partial = b""
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.read_fd, self.drain)
        self._closed = False

    def drain(self) -> None:
        while not self._closed:
            try:
                chunk = os.read(self.read_fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._loop.remove_reader(self.read_fd)
                self.flush_partial()
                return
            data = self._partial + chunk
            *lines, self._partial = data.split(b"\n")
            for line in lines:
                self._on_line(line.decode("utf-8", "replace"))
            if len(self._partial) > 256 * 1024:   # a huge line without newline: emit it
                self.flush_partial()

    def flush_partial(self) -> None:
        if self._partial:
            partial, self._partial = self._partial, b""
            self._on_line(partial.decode("utf-8", "replace"))

    def close_write_end(self) -> None:
        """Called once the sandbox has its own copy of the write end."""
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1

    def close(self) -> None:
        if self._closed:
            return
        self.drain()
        self.flush_partial()
        self._closed = True
        self._loop.remove_reader(self.read_fd)
        os.close(self.read_fd)
        self.close_write_end()
