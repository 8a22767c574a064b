"""OS-only runtimes (`provided.al2023`, `provided.al2`): Go and any custom runtime.

The function brings its own runtime: an executable named `bootstrap` in the code
(`/var/task/bootstrap`) or in a layer (`/opt/bootstrap`), which runs the Runtime
API loop itself — a Go binary built with aws-lambda-go, a shell script, or an
official runtime interface client started by a script. The handler string is
passed through as `_HANDLER`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from lamina.runtimes.base import Launch, LaunchContext, LaunchError, RuntimeFamily

RUNTIME_IDS = ("provided.al2023", "provided.al2")
CANDIDATES = (("/var/task/bootstrap", "code_dir"), ("/opt/bootstrap", "opt_dir"))


class ProvidedFamily(RuntimeFamily):
    name = "provided"

    def __init__(self, interpreters: Mapping[str, str] | None = None) -> None:
        del interpreters   # nothing to interpret: the bootstrap is the runtime

    def runtime_ids(self) -> tuple[str, ...]:
        return RUNTIME_IDS

    def launch(self, ctx: LaunchContext) -> Launch:
        for inside, where in CANDIDATES:
            host_dir = getattr(ctx, where)
            if host_dir is None:
                continue
            host = Path(host_dir) / "bootstrap"
            if host.is_file():
                if not os.access(host, os.X_OK):
                    raise LaunchError("Runtime.InvalidEntrypoint",
                                      f"fork/exec {inside}: permission denied")
                return Launch(argv=[inside], env={})
        raise LaunchError("Runtime.InvalidEntrypoint",
                          "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]")


FAMILY_CLASS = ProvidedFamily
