"""The Python runtime family: python3.10 … python3.14 on host interpreters.

An environment runs `<python> -u -s /var/runtime/bootstrap.py`, where
/var/runtime is `python_bootstrap/` (Lamina's own runtime, see its docstring).

Interpreter flags, and why:
* `-u`: stdout/stderr unbuffered, so print() lines reach the log in order and
  before the platform writes END (the official runtime wraps the streams to the
  same effect).
* `-s`: no user site-packages. The host's ~/.local must never leak into a
  function (with the unisolated `process` sandbox it would).
* not `-E`/`-I`: functions may set PYTHON* variables (PYTHONPATH,
  PYTHONWARNINGS, PYTHONHASHSEED …) and they must work as on AWS.
* not `-S`: the interpreter's own site-packages plays the part of AWS's
  /var/lang/lib/pythonX.Y/site-packages (where AWS ships boto3).

PYTHONPATH is deliberately *not* set here: AWS starts the runtime without it, so
the bootstrap adds /opt/python and /opt/python/lib/pythonX.Y/site-packages, then
exports PYTHONPATH=$LAMBDA_RUNTIME_DIR for child processes. A user-set PYTHONPATH
disables the /opt entries, as on AWS.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import shutil
import threading
from collections.abc import Mapping
from pathlib import Path

from lamina.runtimes.base import Launch, LaunchContext, RuntimeFamily
from lamina.runtimes.build_cache import build_once
from lamina.runtimes.interpreters import Interpreter, find_python, runtime_version
from lamina.sandbox.base import Mount

log = logging.getLogger("lamina.runtimes.python")

BOOTSTRAP_DIR = Path(__file__).resolve().parent / "python_bootstrap"
RUNTIME_IDS = ("python3.8", "python3.9", "python3.10", "python3.11", "python3.12", "python3.13",
               "python3.14")
# Our bootstrap needs Python 3.10+: the ids AWS still runs below that (deprecated, not yet
# blocked) run on the nearest supported interpreter (docs/compatibility.md).
OLDEST_SUPPORTED = "python3.10"
# PATH of AWS's Python runtimes, with the interpreter's bin folder where AWS has /var/lang/bin.
_AWS_PATH = "/usr/local/bin:/usr/bin/:/bin:/opt/bin"


class PythonFamily(RuntimeFamily):
    """Starts Python environments. Interpreters are looked up once per runtime id."""

    name = "python"

    def __init__(self, interpreters: Mapping[str, str] | None = None) -> None:
        self._overrides = dict(interpreters or {})
        self._found: dict[str, Interpreter] = {}
        self._lock = threading.Lock()

    def runtime_ids(self) -> tuple[str, ...]:
        return RUNTIME_IDS

    def interpreter(self, runtime_id: str) -> Interpreter:
        """The host interpreter for `runtime_id` (cached); LaunchError if there is none."""
        with self._lock:
            found = self._found.get(runtime_id)
            if found is None:
                wanted = runtime_id
                if runtime_id not in self._overrides and \
                        runtime_version(runtime_id) < runtime_version(OLDEST_SUPPORTED):
                    wanted = OLDEST_SUPPORTED
                found = find_python(wanted, self._overrides)
                if found.substituted_for:
                    log.warning("%s: no python%s on this host; using %s (python%s) instead",
                                runtime_id, runtime_id.removeprefix("python"), found.path,
                                found.version)
                self._found[runtime_id] = found
            return found

    def launch(self, ctx: LaunchContext) -> Launch:
        interp = self.interpreter(ctx.runtime_id)
        sdk = sdk_folder()
        mounts = interp.mounts + ((Mount(sdk, SDK_TARGET),) if sdk is not None else ())
        # Put the interpreter's bin first (AWS: /var/lang/bin) so `python3` in a
        # subprocess is the same interpreter; /usr/bin is on the default PATH already.
        env = {"PATH": f"{interp.prefix}/bin:{_AWS_PATH}"} if interp.mounts else {}
        return Launch(argv=[str(interp.path), "-u", "-s", "/var/runtime/bootstrap.py"],
                      env=env, mounts=mounts, runtime_dir=BOOTSTRAP_DIR)


# AWS's Python runtimes ship the AWS SDK (boto3 and what it imports); functions may rely
# on it without bundling it. Lamina shows this server's own copy, read-only, at
# SDK_TARGET, which the bootstrap puts last on sys.path (a bundled boto3 still wins).
SDK_TARGET = "/var/lang/sdk"
SDK_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


@functools.cache
def sdk_folder() -> Path | None:
    """A folder holding the SDK packages, assembled once per boto3/botocore version."""
    try:
        import boto3
        import botocore
    except ImportError:
        return None
    key = f"boto3-{boto3.__version__}-botocore-{botocore.__version__}"

    def assemble(folder: Path) -> None:
        for name in SDK_PACKAGES:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                continue
            origin = Path(spec.origin)
            if origin.name == "__init__.py":
                shutil.copytree(origin.parent, folder / name,
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(origin, folder / origin.name)
        for path in folder.rglob("*"):       # readable by the sandbox uid
            path.chmod(0o755 if path.is_dir() else 0o644)

    try:
        return build_once("python-sdk", Path(boto3.__file__).parent, key, assemble)
    except OSError as exc:
        log.warning("no AWS SDK for Python functions: %s", exc)
        return None


FAMILY_CLASS = PythonFamily
