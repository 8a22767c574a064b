"""Finding a host Python interpreter for a `pythonX.Y` runtime id.

Search order for `pythonX.Y`:

1. the configured override (`Settings.interpreters["pythonX.Y"]`), used as given
   (a missing file is an error, never silently replaced);
2. `pythonX.Y` in /usr/bin and /usr/local/bin, then on PATH (the distribution's
   interpreters first: they are visible in every sandbox without a mount, and
   carry no developer tools' `.pth` files into every function's start-up);
3. pyenv installs: `$PYENV_ROOT/versions/X.Y*/bin/pythonX.Y` (newest patch first);
4. the nearest other version found by steps 2–3: the oldest newer one if any
   (code written for 3.10 runs on 3.11 far more often than the reverse), else
   the newest older one (so python3.14 on a host with 3.10–3.13 gets 3.13).
   `Interpreter.substituted_for` records it; the caller logs it.

Symlinks are resolved to the real binary, and pyenv shims (bash scripts that
exec `pyenv exec`) to the `versions/<v>/bin/pythonX.Y` they would run: inside the
sandbox neither pyenv nor the shim's environment exists. The interpreter's prefix
(the folder holding `lib/pythonX.Y/os.py`) must be visible in the sandbox at the
same path; `Interpreter.mounts` gives it, or nothing when it lives under /usr,
which every sandbox shows anyway.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lamina.runtimes.base import LaunchError
from lamina.sandbox.base import Mount

# Host trees every sandbox already shows read-only (see SandboxSpec).
_SYSTEM_TREES = ("/usr", "/bin", "/lib", "/lib64", "/sbin")
_SYSTEM_DIRS = ("/usr/bin", "/usr/local/bin")
# Minor versions considered for a substitution (3.10 .. 3.19); older ones would
# break code written for the supported runtimes.
_SUBSTITUTE_MINORS = range(10, 20)
_RUNTIME_RE = re.compile(r"python(3)\.(\d+)")


@dataclass(frozen=True)
class Interpreter:
    """A usable interpreter for one runtime id.

    `path` is the real binary (no symlink, no shim); `prefix` is its installation
    prefix; `version` is "X.Y" of the binary found, which differs from the runtime's
    when `substituted_for` is set (then it names the runtime id that asked).
    """

    runtime_id: str
    version: str
    path: Path
    prefix: Path
    source: str                          # "config" | "PATH" | "/usr/bin" | "pyenv" ...
    substituted_for: str | None = None

    @property
    def mounts(self) -> tuple[Mount, ...]:
        """Read-only mounts the sandbox needs for this interpreter (same path inside)."""
        if _under(self.prefix, _SYSTEM_TREES):
            return ()
        return (Mount(source=self.prefix, target=str(self.prefix)),)


def runtime_version(runtime_id: str) -> tuple[int, int]:
    """(3, 12) for "python3.12"; ValueError for anything else."""
    match = _RUNTIME_RE.fullmatch(runtime_id)
    if not match:
        raise ValueError(f"not a python runtime id: {runtime_id}")
    return int(match.group(1)), int(match.group(2))


def find_python(runtime_id: str, overrides: Mapping[str, str] | None = None, *,
                search_path: str | None = None, system_dirs: Iterable[str] = _SYSTEM_DIRS,
                pyenv_roots: Iterable[Path] | None = None,
                allow_substitution: bool = True) -> Interpreter:
    """The interpreter to run `runtime_id` with; LaunchError("Runtime.Unavailable") if none.

    `search_path` defaults to $PATH and `pyenv_roots` to $PYENV_ROOT and ~/.pyenv
    (the keyword parameters exist for tests). Pure file-system look-ups: nothing
    is executed.
    """
    major, minor = runtime_version(runtime_id)
    overrides = overrides or {}
    if runtime_id in overrides:
        return _from_override(runtime_id, overrides[runtime_id])
    roots = list(pyenv_roots) if pyenv_roots is not None else _default_pyenv_roots()
    dirs = tuple(system_dirs)

    def locate(m: int) -> tuple[Path, str] | None:
        return _locate(major, m, search_path, dirs, roots)

    exact = locate(minor)
    if exact is not None:
        path, source = exact
        return _interpreter(runtime_id, f"{major}.{minor}", path, source)
    if allow_substitution:
        found = {m: hit for m in _SUBSTITUTE_MINORS
                 if m != minor and (hit := locate(m)) is not None}
        newer = sorted(m for m in found if m > minor)
        older = sorted((m for m in found if m < minor), reverse=True)
        for m in newer[:1] or older[:1]:
            path, source = found[m]
            return _interpreter(runtime_id, f"{major}.{m}", path, source,
                                substituted_for=runtime_id)
    raise LaunchError("Runtime.Unavailable",
                      f"No python{major}.{minor} interpreter found on this host for {runtime_id} "
                      f"(set interpreters['{runtime_id}'] in the settings)")


def _from_override(runtime_id: str, configured: str) -> Interpreter:
    candidate = Path(configured)
    if not candidate.is_absolute():
        which = shutil.which(configured)
        if which is None:
            raise LaunchError("Runtime.Unavailable",
                              f"Configured interpreter for {runtime_id} not found: {configured}")
        candidate = Path(which)
    real = _real_binary(candidate)
    if real is None:
        raise LaunchError("Runtime.Unavailable",
                          f"Configured interpreter for {runtime_id} is not usable: {configured}")
    major, minor = runtime_version(runtime_id)
    wanted = f"{major}.{minor}"
    version = _version_of(real) or wanted
    return _interpreter(runtime_id, version, real, "config",
                        substituted_for=runtime_id if version != wanted else None)


def _locate(major: int, minor: int, search_path: str | None, system_dirs: tuple[str, ...],
            pyenv_roots: list[Path]) -> tuple[Path, str] | None:
    """The real binary of pythonX.Y and where it was found, or None."""
    name = f"python{major}.{minor}"
    path_hit = shutil.which(name, path=search_path)
    candidates: list[tuple[Path, str]] = [(Path(d) / name, d) for d in system_dirs]
    if path_hit:
        candidates.append((Path(path_hit), "PATH"))
    for root in pyenv_roots:
        for version_dir in _pyenv_versions(root, major, minor):
            candidates.append((version_dir / "bin" / name, "pyenv"))
    for candidate, source in candidates:
        real = _real_binary(candidate, pyenv_roots)
        if real is not None and _prefix_of(real, f"{major}.{minor}") is not None:
            return real, source
    return None


def _real_binary(candidate: Path, pyenv_roots: list[Path] | None = None) -> Path | None:
    """Follow symlinks and pyenv shims to an executable ELF file, or None."""
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not real.is_file() or not os.access(real, os.X_OK):
        return None
    with open(real, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"\x7fELF"):
        return real
    if head.startswith(b"#!") and b"pyenv" in head:
        return _resolve_pyenv_shim(real, head, pyenv_roots)
    return None


def _resolve_pyenv_shim(shim: Path, text: bytes, pyenv_roots: list[Path] | None) -> Path | None:
    """The binary a pyenv shim named pythonX.Y would run: newest X.Y* install."""
    match = re.fullmatch(r"python(\d+)\.(\d+)", shim.name)
    if not match:
        return None            # `python3`/`python` shims depend on `pyenv global`; skip
    roots = list(pyenv_roots or [])
    declared = re.search(rb'PYENV_ROOT="([^"]+)"', text)
    if declared:
        roots.insert(0, Path(declared.group(1).decode()))
    roots.append(shim.parent.parent)                # <root>/shims/pythonX.Y
    major, minor = int(match.group(1)), int(match.group(2))
    for root in roots:
        for version_dir in _pyenv_versions(root, major, minor):
            binary = version_dir / "bin" / shim.name
            if binary.is_file():
                real = binary.resolve()
                with open(real, "rb") as fh:
                    if fh.read(4) == b"\x7fELF":
                        return real
    return None


def _pyenv_versions(root: Path, major: int, minor: int) -> list[Path]:
    """<root>/versions/X.Y.* folders, newest patch first (X.Y.10 after X.Y.9)."""
    versions = root / "versions"
    try:
        entries = list(versions.iterdir())
    except OSError:
        return []
    pattern = re.compile(rf"{major}\.{minor}(?:\.(\d+))?")
    found = []
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m and entry.is_dir():
            found.append((int(m.group(1) or 0), entry))
    return [entry for _, entry in sorted(found, reverse=True)]


def _default_pyenv_roots() -> list[Path]:
    roots = []
    if os.environ.get("PYENV_ROOT"):
        roots.append(Path(os.environ["PYENV_ROOT"]))
    roots.append(Path.home() / ".pyenv")
    return roots


def _prefix_of(binary: Path, version: str) -> Path | None:
    """The prefix holding lib/pythonX.Y/os.py for `binary` (<prefix>/bin/pythonX.Y)."""
    prefix = binary.parent.parent
    if (prefix / "lib" / f"python{version}" / "os.py").is_file():
        return prefix
    return None


def _version_of(binary: Path) -> str | None:
    """X.Y from a binary or prefix layout named like pythonX.Y, else None."""
    m = re.fullmatch(r"python(\d+\.\d+)", binary.name)
    if m:
        return m.group(1)
    lib = binary.parent.parent / "lib"
    try:
        names = [p.name for p in lib.glob("python3.*") if (p / "os.py").is_file()]
    except OSError:
        return None
    return names[0][len("python"):] if len(names) == 1 else None


def _interpreter(runtime_id: str, version: str, path: Path, source: str,
                 substituted_for: str | None = None) -> Interpreter:
    prefix = _prefix_of(path, version)
    if prefix is None:
        raise LaunchError("Runtime.Unavailable",
                          f"Interpreter {path} for {runtime_id} has no lib/python{version}/os.py "
                          "next to it; point interpreters['%s'] at a real installation" % runtime_id)
    return Interpreter(runtime_id=runtime_id, version=version, path=path, prefix=prefix,
                       source=source, substituted_for=substituted_for)


def _under(path: Path, trees: tuple[str, ...]) -> bool:
    text = str(path)
    return any(text == tree or text.startswith(tree + "/") for tree in trees)
