"""Ruby runtimes (ruby3.3, ruby3.4).

The bootstrap in `ruby_bootstrap/` (Ruby, standard library only) is shown at
/var/runtime and started as `ruby /var/runtime/lib/runtime.rb`. It behaves like
AWS's Ruby runtime as clients see it: `file.method` and
`file.Module::Class.method` handlers called with `event:` and `context:`, the
snake_case context, `{"errorMessage","errorType":"Function<Class>","stackTrace"}`
errors, and Logger lines in AWS's layout.

Both ids run on the host's `ruby` unless `interpreters` maps them to another
binary; `substitutions()` lists the difference (Debian 12: Ruby 3.1).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lamina.runtimes.base import Launch, LaunchContext, LaunchError, RuntimeFamily, sandbox_interpreter

# One helper for "make a host interpreter visible in the sandbox" serves both families.

BOOTSTRAP_DIR = Path(__file__).resolve().parent / "ruby_bootstrap"
ENTRY = "/var/runtime/lib/runtime.rb"

RUNTIME_IDS = ("ruby3.2", "ruby3.3", "ruby3.4", "ruby4.0")
DEFAULT_INTERPRETERS = ("/usr/local/bin/ruby", "/usr/bin/ruby")

# Asks the interpreter what gem folders it ships with and its ABI version.
_PROBE = 'print RUBY_VERSION, "\\n", RbConfig::CONFIG["ruby_version"], "\\n", Gem.default_path.join(":")'


@dataclass(frozen=True)
class RubyInfo:
    """Facts about one host Ruby, probed once (about 80 ms)."""

    version: str                 # "3.1.2"
    abi: str                     # "3.1.0": the folder name gems are installed under
    gem_dirs: tuple[str, ...]    # the interpreter's own gem folders


def aws_abi(runtime_id: str) -> str:
    """"ruby3.3" -> "3.3.0", the folder name AWS layers and bundles use."""
    return runtime_id.removeprefix("ruby") + ".0"


def gem_path(runtime_id: str, info: RubyInfo, visible: tuple[str, ...] = ("/usr/",)) -> str:
    """GEM_PATH as AWS builds it (bundle in the code, then layers), then the host Ruby's own gems.

    The host folders keep bundled gems (rexml, minitest ...) loadable, since
    setting GEM_PATH otherwise hides them. Only folders the sandbox shows
    (`visible` prefixes) are listed. When the host ABI differs from the
    runtime's, its folder names are accepted too, so code bundled on this
    host also loads.
    """
    abis = [aws_abi(runtime_id)] + ([info.abi] if info.abi != aws_abi(runtime_id) else [])
    parts = [f"/var/task/vendor/bundle/ruby/{abi}" for abi in abis]
    parts += [f"/opt/ruby/gems/{abi}" for abi in abis]
    parts += [d for d in info.gem_dirs if d.startswith(visible)]
    return ":".join(parts)


def probe_ruby(binary: Path) -> RubyInfo:
    """Ask `binary` for its version, ABI and gem folders; raises LaunchError if it does not run."""
    try:
        proc = subprocess.run([str(binary), "-e", _PROBE], capture_output=True, text=True,
                              timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise LaunchError("Runtime.Unavailable", f"{binary} does not run: {exc}") from exc
    version, abi, dirs = (proc.stdout.split("\n") + ["", "", ""])[:3]
    return RubyInfo(version, abi, tuple(d for d in dirs.split(":") if d))


class RubyFamily(RuntimeFamily):
    """Starts Ruby environments; stateless apart from cached host facts."""

    name = "ruby"

    def __init__(self, interpreters: dict[str, str], *,
                 probe: Callable[[Path], RubyInfo] | None = None) -> None:
        """`interpreters` maps runtime ids to ruby binaries; `probe` replaces asking the binary."""
        self._overrides = {k: v for k, v in interpreters.items() if k in RUNTIME_IDS}
        self._probe = probe or probe_ruby
        self._info: dict[str, RubyInfo] = {}

    def runtime_ids(self) -> tuple[str, ...]:
        return RUNTIME_IDS

    def interpreter(self, runtime_id: str) -> Path | None:
        """The host ruby binary for `runtime_id`, or None if there is none."""
        candidates = ([self._overrides[runtime_id]] if runtime_id in self._overrides
                      else list(DEFAULT_INTERPRETERS))
        for candidate in candidates:
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return Path(candidate)
        return None

    def info(self, binary: Path) -> RubyInfo:
        """Facts about `binary`, probed once; raises LaunchError if it does not run."""
        key = str(binary)
        if key not in self._info:
            self._info[key] = self._probe(binary)
        return self._info[key]

    def substitutions(self) -> dict[str, str]:
        """Runtime ids served by a Ruby other than the one they name, with what runs instead."""
        subs: dict[str, str] = {}
        for runtime_id in RUNTIME_IDS:
            binary = self.interpreter(runtime_id)
            if binary is None:
                subs[runtime_id] = "no interpreter on this host"
                continue
            try:
                version = self.info(binary).version
            except LaunchError:
                version = "unknown"
            if not version.startswith(runtime_id.removeprefix("ruby") + "."):
                subs[runtime_id] = f"Ruby {version} ({binary})"
        return subs

    def launch(self, ctx: LaunchContext) -> Launch:
        if ctx.runtime_id not in RUNTIME_IDS:
            raise LaunchError("Runtime.InvalidRuntime", f"{ctx.runtime_id} is not a Ruby runtime")
        binary = self.interpreter(ctx.runtime_id)
        if binary is None:
            wanted = self._overrides.get(ctx.runtime_id) or " or ".join(DEFAULT_INTERPRETERS)
            raise LaunchError("Runtime.Unavailable",
                              f"{ctx.runtime_id}: no ruby interpreter at {wanted}")
        argv0, mounts = sandbox_interpreter(binary)
        visible = ("/usr/",) + tuple(m.target.rstrip("/") + "/" for m in mounts)
        return Launch(
            argv=[argv0, ENTRY],
            env={
                "GEM_PATH": gem_path(ctx.runtime_id, self.info(binary), visible),
                "RUBYLIB": "/var/task:/opt/ruby/lib",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{ctx.runtime_id}",
            },
            mounts=mounts,
            runtime_dir=BOOTSTRAP_DIR,
        )


FAMILY_CLASS = RubyFamily
