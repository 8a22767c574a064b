"""Node.js runtimes (nodejs20.x, nodejs22.x, nodejs24.x).

The bootstrap in `nodejs_bootstrap/` (JavaScript, node: built-ins only) is shown
at /var/runtime and started as `node /var/runtime/index.mjs`. It behaves like
AWS's Node.js runtime as clients see it: handler resolution (.js/.mjs/.cjs,
ESM or CommonJS), async and callback handlers (rejected on nodejs24.x), the
camelCase context, `{"errorType","errorMessage","trace"}` errors and the
console log format.

Every runtime id runs on whatever `node` the host has unless `interpreters`
maps it to another binary; `substitutions()` lists where the version differs
(this host: Node.js 20 for all three).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from lamina.runtimes.base import Launch, LaunchContext, LaunchError, RuntimeFamily, sandbox_interpreter

BOOTSTRAP_DIR = Path(__file__).resolve().parent / "nodejs_bootstrap"
ENTRY = "/var/runtime/index.mjs"

RUNTIME_IDS = ("nodejs16.x", "nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x")
DEFAULT_INTERPRETERS = ("/usr/local/bin/node", "/usr/bin/node")

def node_major(runtime_id: str) -> str:
    """"nodejs22.x" -> "22"."""
    return runtime_id.removeprefix("nodejs").removesuffix(".x")


def node_path(runtime_id: str) -> str:
    """NODE_PATH exactly as AWS sets it (layers first, then the runtime, then the code)."""
    major = node_major(runtime_id)
    return (f"/opt/nodejs/node{major}/node_modules:/opt/nodejs/node_modules:"
            "/var/runtime/node_modules:/var/runtime:/var/task")


def node_version(binary: Path) -> str:
    """`node --version` without the "v" (about 10 ms), or "unknown"."""
    try:
        proc = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                              timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return proc.stdout.strip().lstrip("v")


class NodejsFamily(RuntimeFamily):
    """Starts Node.js environments; stateless apart from cached host facts."""

    name = "nodejs"

    def __init__(self, interpreters: dict[str, str], *,
                 version_probe: Callable[[Path], str] | None = None) -> None:
        """`interpreters` maps runtime ids to node binaries; `version_probe` replaces `node --version`."""
        self._overrides = {k: v for k, v in interpreters.items() if k in RUNTIME_IDS}
        self._probe = version_probe or node_version

    def runtime_ids(self) -> tuple[str, ...]:
        return RUNTIME_IDS

    def interpreter(self, runtime_id: str) -> Path | None:
        """The host node binary for `runtime_id`, or None if there is none."""
        candidates = ([self._overrides[runtime_id]] if runtime_id in self._overrides
                      else list(DEFAULT_INTERPRETERS))
        for candidate in candidates:
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return Path(candidate)
        return None

    @cached_property
    def _versions(self) -> dict[str, str]:
        """The version of each distinct binary, asked once."""
        out: dict[str, str] = {}
        for runtime_id in RUNTIME_IDS:
            binary = self.interpreter(runtime_id)
            if binary is not None and str(binary) not in out:
                out[str(binary)] = self._probe(binary)
        return out

    def substitutions(self) -> dict[str, str]:
        """Runtime ids served by a Node.js other than the one they name, with what runs instead."""
        subs: dict[str, str] = {}
        for runtime_id in RUNTIME_IDS:
            binary = self.interpreter(runtime_id)
            if binary is None:
                subs[runtime_id] = "no interpreter on this host"
                continue
            version = self._versions.get(str(binary), "unknown")
            if version.split(".")[0] != node_major(runtime_id):
                subs[runtime_id] = f"Node.js {version} ({binary})"
        return subs

    def launch(self, ctx: LaunchContext) -> Launch:
        if ctx.runtime_id not in RUNTIME_IDS:
            raise LaunchError("Runtime.InvalidRuntime", f"{ctx.runtime_id} is not a Node.js runtime")
        binary = self.interpreter(ctx.runtime_id)
        if binary is None:
            wanted = self._overrides.get(ctx.runtime_id) or " or ".join(DEFAULT_INTERPRETERS)
            raise LaunchError("Runtime.Unavailable",
                              f"{ctx.runtime_id}: no node interpreter at {wanted}")
        argv0, mounts = sandbox_interpreter(binary)
        return Launch(
            argv=[argv0, ENTRY],
            env={
                "NODE_PATH": node_path(ctx.runtime_id),
                # The bootstrap reads this to apply the Node 24 rules.
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{ctx.runtime_id}",
            },
            mounts=mounts,
            runtime_dir=BOOTSTRAP_DIR,
        )


FAMILY_CLASS = NodejsFamily
