"""Who is on the other end of a loopback TCP connection?

Every environment's Runtime API listens on a loopback port, and sandboxes share
the host's network, so another function could connect to it and take events
that are not its own. Each new connection is therefore checked once: the peer
socket's inode is looked up in /proc/net/tcp{,6} and must be held by a process
of the environment's own sandbox (its cgroup's processes). Runtimes keep one
connection open, so the check costs well under a millisecond per environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterable


def _rows(path: str) -> Iterable[list[str]]:
    try:
        with open(path) as fh:
            next(fh, None)
            for line in fh:
                yield line.split()
    except OSError:
        return


def socket_inode(peer_port: int, local_port: int) -> int | None:
    """The inode of the socket whose local port is `peer_port` and remote port `local_port`."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for cols in _rows(table):
            if len(cols) < 10:
                continue
            local, remote = cols[1], cols[2]
            if int(local.rsplit(":", 1)[1], 16) == peer_port and \
                    int(remote.rsplit(":", 1)[1], 16) == local_port:
                return int(cols[9])
    return None


def held_by(pids: Iterable[int], inode: int) -> bool:
    """True if one of `pids` has the socket `inode` open."""
    target = f"socket:[{inode}]"
    for pid in pids:
        folder = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(folder)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{folder}/{fd}") == target:
                    return True
            except OSError:
                continue
    return False
