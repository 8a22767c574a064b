"""The minimal /etc a bwrap sandbox sees, staged once per server in a host folder.

Three kinds of entries:
- generated: passwd and group list only root, the sandbox user (sbx_user1051, as
  on AWS) and nobody; the function has no business knowing the host's users;
- copied at staging time: small, static configuration (nsswitch.conf, services,
  the time zone ...); a change on the host needs a server restart;
- bound live, read-only, over a placeholder in the staged folder: what changes
  while the server runs (resolv.conf, hosts, ld.so.cache, the TLS roots,
  /etc/alternatives, the JVM's and Python's configuration folders).
Host symlinks that point into /usr stay symlinks (/usr is visible anyway).

Why not bind every entry: each bind costs bwrap a pass over the mount table, and
~20 of them added ~5 ms to every start. Not /etc/ssl as a whole: /etc/ssl/private.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

COPIED = ("nsswitch.conf", "host.conf", "gai.conf", "protocols", "services", "mime.types",
          "timezone", "localtime", "os-release", "ssl/openssl.cnf")
LIVE = ("resolv.conf", "hosts", "ld.so.cache", "ssl/certs", "pki/tls/certs", "pki/ca-trust",
        "crypto-policies", "alternatives", "java-*", "python3*")
SANDBOX_USER = "sbx_user1051"


def _identity_files(dest: Path, uid: int, gid: int) -> None:
    (dest / "passwd").write_text(
        "root:x:0:0:root:/root:/sbin/nologin\n"
        f"{SANDBOX_USER}:x:{uid}:{gid}::/tmp:/sbin/nologin\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")
    (dest / "group").write_text(f"root:x:0:\n{SANDBOX_USER}:x:{gid}:\nnogroup:x:65534:\n")


def _symlink_into_usr(host: str, staged: Path) -> bool:
    if os.path.islink(host) and os.path.realpath(host).startswith("/usr/"):
        staged.symlink_to(os.readlink(host))
        return True
    return False


def stage_etc(dest: Path, uid: int, gid: int, host_etc: str = "/etc") -> list[tuple[str, str]]:
    """Fill the empty folder `dest` and return the live (host path, sandbox path) binds.

    The caller binds `dest` read-only at /etc and then each returned pair. Every
    file and folder in `dest` is world-readable; `dest` itself belongs to the caller.
    """
    os.chmod(dest, 0o755)
    _identity_files(dest, uid, gid)
    for name in COPIED:
        host, staged = f"{host_etc}/{name}", dest / name
        if not os.path.exists(host):
            continue
        staged.parent.mkdir(parents=True, exist_ok=True)
        if not _symlink_into_usr(host, staged) and os.path.isfile(host):
            shutil.copyfile(host, staged)
    binds: list[tuple[str, str]] = []
    for pattern in LIVE:
        for host in sorted(glob.glob(f"{host_etc}/{pattern}")):
            name = os.path.relpath(host, host_etc)
            staged = dest / name
            staged.parent.mkdir(parents=True, exist_ok=True)
            if _symlink_into_usr(host, staged):
                continue
            real = os.path.realpath(host)
            if os.path.isdir(real):
                staged.mkdir(exist_ok=True)
            elif os.path.isfile(real):
                staged.touch()
            else:
                continue
            binds.append((real, f"/etc/{name}"))
    for root, dirs, files in os.walk(dest):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            path = os.path.join(root, f)
            if not os.path.islink(path):
                os.chmod(path, 0o644)
    return binds
