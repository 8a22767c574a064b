"""Every AWS runtime id, which ones CreateFunction still accepts, and who runs each.

`RUNTIME_IDS` is the `Runtime` enum of botocore's Lambda model (2015-03-31), in the
model's order; `tests/unit/test_runtime_registry.py` fails when the checked-in
model (or the installed botocore) disagrees, so a botocore upgrade that adds a
runtime is noticed. The list is copied rather than read at import time because
the control plane validates every CreateFunction against it and `lamina.runtimes`
must not import `lamina.api` (where the model copy lives).

Which ids CreateFunction accepts is the control plane's business
(`lamina.control.runtimes`); the registry only knows which family starts an id.

`Registry` maps a runtime id to the `RuntimeFamily` that starts it. Families are
modules `lamina/runtimes/<family>.py` exposing `FAMILY_CLASS`, imported on first
use so that a missing or broken family only affects its own runtimes.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Mapping

from lamina.runtimes.base import Launch, LaunchContext, LaunchError, RuntimeFamily

log = logging.getLogger("lamina.runtimes")

# botocore Lambda model, shape `Runtime`, enum order (botocore 1.43.11).
RUNTIME_IDS: tuple[str, ...] = (
    "nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x",
    "nodejs14.x", "nodejs16.x", "java8", "java8.al2", "java11", "python2.7", "python3.6",
    "python3.7", "python3.8", "python3.9", "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1",
    "dotnetcore3.1", "dotnet6", "dotnet8", "nodejs4.3-edge", "go1.x", "ruby2.5", "ruby2.7",
    "provided", "provided.al2", "nodejs18.x", "python3.10", "java17", "ruby3.2", "ruby3.3",
    "ruby3.4", "python3.11", "nodejs20.x", "provided.al2023", "python3.12", "java21",
    "python3.13", "nodejs22.x", "nodejs24.x", "python3.14", "java25", "dotnet10", "ruby4.0",
)

# Family module names, by runtime id prefix. `go1.x` has no family: it ran a Go
# binary on Amazon Linux 1, which Lamina does not emulate (and AWS retired it).
_FAMILY_PREFIXES: tuple[tuple[str, str], ...] = (
    ("python", "python"),
    ("nodejs", "nodejs"),
    ("java", "java"),
    ("dotnet", "dotnet"),
    ("ruby", "ruby"),
    ("provided", "provided"),
)


def family_name(runtime_id: str) -> str | None:
    """The family module that serves `runtime_id` ("python", "nodejs" ...), or None.

    Only ids of the model enum have a family; matching is exact-case, like AWS
    (`PYTHON3.12` is not a runtime).
    """
    if runtime_id not in RUNTIME_IDS:
        return None
    for prefix, name in _FAMILY_PREFIXES:
        if runtime_id.startswith(prefix):
            return name
    return None


class Registry:
    """Runtime id → `RuntimeFamily`, with families constructed once and lazily.

    `interpreters` is `Settings.interpreters` (runtime id → interpreter path); every
    family receives the whole mapping and picks its own ids. Thread-safe; the
    families themselves are stateless apart from caches.
    """

    def __init__(self, interpreters: Mapping[str, str] | None = None) -> None:
        self._interpreters = dict(interpreters or {})
        self._families: dict[str, RuntimeFamily] = {}
        self._missing: dict[str, str] = {}     # family name -> why it cannot load
        self._lock = threading.Lock()

    def family_for(self, runtime_id: str) -> RuntimeFamily:
        """The family that starts `runtime_id`; LaunchError if none can on this host."""
        name = family_name(runtime_id)
        if name is None:
            raise LaunchError("Runtime.InvalidRuntime", f"Unsupported runtime: {runtime_id}")
        with self._lock:
            family = self._families.get(name)
            if family is None and name not in self._missing:
                family = self._load(name)
        if family is None:
            raise LaunchError("Runtime.Unavailable",
                              f"Runtime {runtime_id} is not available on this host: "
                              f"{self._missing[name]}")
        if runtime_id not in family.runtime_ids():
            raise LaunchError("Runtime.Unavailable",
                              f"Runtime {runtime_id} is not served by the {name} family")
        return family

    def launch(self, ctx: LaunchContext) -> Launch:
        """How to start `ctx.runtime_id`; see `RuntimeFamily.launch`."""
        return self.family_for(ctx.runtime_id).launch(ctx)

    def loaded_families(self) -> dict[str, RuntimeFamily]:
        """Families constructed so far (for diagnostics and `lamina doctor`-style output)."""
        with self._lock:
            return dict(self._families)

    def _load(self, name: str) -> RuntimeFamily | None:
        module_name = f"{__package__}.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise                      # a real bug inside the family module
            self._missing[name] = "runtime family not installed"
            log.warning("runtime family %s is not installed", name)
            return None
        family_class = getattr(module, "FAMILY_CLASS", None)
        if family_class is None:
            self._missing[name] = f"{module_name} has no FAMILY_CLASS"
            log.error("%s has no FAMILY_CLASS", module_name)
            return None
        family: RuntimeFamily = family_class(interpreters=dict(self._interpreters))
        self._families[name] = family
        return family
