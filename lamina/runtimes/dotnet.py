"""The .NET runtime family: dotnet8 and dotnet10, run on Mono.

No .NET SDK or NuGet is reachable here, so Lamina ships its own pieces as C# sources in
`dotnet_bootstrap/`, compiled with Mono's `mcs` the first time they are needed, then
precompiled to native code (`mono --aot`, best effort) and cached by source hash
(`build_cache`; call `DotnetFamily.warm()` at server start, in a thread):

- `Amazon.Lambda.Core.dll`: our implementation of the public API of AWS's package of the
  same name (ILambdaContext, ILambdaLogger, LambdaLogger, LambdaSerializerAttribute, ...).
  Functions compile against it (see `reference_assemblies()`).
- `Amazon.Lambda.Serialization.SystemTextJson.dll`: DefaultLambdaJsonSerializer and
  CamelCaseLambdaJsonSerializer with System.Text.Json's conventions, on our own JSON code
  (Mono has no System.Text.Json).
- `LaminaHost.exe`: the runtime host. It loads `Assembly::Namespace.Type::Method` from
  /var/task and serves the Runtime API loop. It talks to the Runtime API through libc
  sockets (`NativeSocket.cs`): Mono's own socket stack parses machine.config on first use,
  which was most of a cold start's CPU time.
- `etc/mono/`: a copy of the host's Mono configuration (the sandbox's /etc has none).

Substitution: both runtime ids run on the host's Mono (a .NET Framework 4.x-compatible
runtime), not on .NET 8/10; `substitutions()` says so. Code written for Lamina compiles
with `mcs` against our assemblies; binaries built by the .NET SDK for net8.0 are not
expected to load. `interpreters` may name a `mono` executable per runtime id (or under
"mono" for all); otherwise `mono` is looked up on PATH. A host `dotnet` is not used: it
could not be exercised here, so it is not claimed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from lamina.runtimes import build_cache
from lamina.runtimes.base import Launch, LaunchContext, LaunchError, RuntimeFamily
from lamina.sandbox.base import Mount

RUNTIME_IDS = ("dotnet6", "dotnet8", "dotnet10")
BOOTSTRAP_SOURCES = Path(__file__).with_name("dotnet_bootstrap")
CORE_DLL = "Amazon.Lambda.Core.dll"
SERIALIZER_DLL = "Amazon.Lambda.Serialization.SystemTextJson.dll"
HOST_EXE = "LaminaHost.exe"
MONO_CONFIG_FILES = ("config", "4.5/machine.config", "4.5/settings.map")


class DotnetFamily(RuntimeFamily):
    """.NET runtimes on Mono. `interpreters`: see the module docstring."""

    name = "dotnet"

    def __init__(self, interpreters: dict[str, str]) -> None:
        self._explicit = dict(interpreters)
        self._prepared: Path | None = None

    def runtime_ids(self) -> tuple[str, ...]:
        return RUNTIME_IDS

    def mono_for(self, runtime_id: str) -> Path:
        """The Mono executable that runs `runtime_id`; raises LaunchError if there is none."""
        if runtime_id not in RUNTIME_IDS:
            raise LaunchError("Runtime.InvalidRuntime", f"{runtime_id} is not a .NET runtime")
        configured = self._explicit.get(runtime_id) or self._explicit.get("mono")
        found = configured or shutil.which("mono")
        if not found or not Path(found).exists():
            raise LaunchError("Runtime.Unavailable",
                              f"{runtime_id} needs Mono (apt-get install mono-complete); none found")
        return Path(found)

    def substitutions(self) -> dict[str, str]:
        """Every id runs on Mono rather than on the .NET version it names."""
        out: dict[str, str] = {}
        for rid in RUNTIME_IDS:
            try:
                out[rid] = f"Mono at {self.mono_for(rid)}"
            except LaunchError as e:
                out[rid] = f"unavailable: {e.message}"
        return out

    def prepare(self) -> Path:
        """Compile our assemblies and host if this source version was never built."""
        if self._prepared is not None:
            return self._prepared
        mcs_path = shutil.which("mcs")
        if mcs_path is None:
            raise LaunchError("Runtime.Unavailable", "mcs (package mono-devel) is needed to build the .NET runtime")
        mcs = Path(mcs_path).resolve()
        mono_path = shutil.which("mono")
        mono = Path(mono_path).resolve() if mono_path else None
        # AOT images are only valid for the Mono that made them, so its identity is part of the key.
        key = f"{mcs} {mcs.stat().st_mtime_ns} {mono} {mono.stat().st_mtime_ns if mono else 0} {build_cache.recipe(__file__)}"
        src = BOOTSTRAP_SOURCES

        def compile_into(out: Path) -> None:
            def cs(folder: str) -> list[str]:
                return sorted(str(p) for p in (src / folder).glob("*.cs"))

            shared = cs("Shared")
            core = out / CORE_DLL
            steps = [
                ["-target:library", f"-out:{core}", *cs("Amazon.Lambda.Core")],
                ["-target:library", f"-out:{out / SERIALIZER_DLL}", f"-r:{core}",
                 *cs("Amazon.Lambda.Serialization.SystemTextJson"), *shared],
                ["-target:exe", "-unsafe", f"-out:{out / HOST_EXE}", f"-r:{core}", *cs("Host"), *shared],
            ]
            for args in steps:
                done = subprocess.run([str(mcs), "-debug", "-optimize+", "-nologo", *args],
                                      capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise LaunchError("Runtime.Unavailable", f"mcs failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
            shutil.copyfile(src / "bootstrap.sh", out / "bootstrap")
            (out / "bootstrap").chmod(0o755)
            _copy_mono_config(out / "etc" / "mono")
            if mono is not None:
                _precompile(mono, [out / HOST_EXE, out / CORE_DLL, out / SERIALIZER_DLL])

        self._prepared = build_cache.build_once("dotnet-runtime", BOOTSTRAP_SOURCES, key, compile_into)
        return self._prepared

    def warm(self) -> None:
        """Build everything ahead of the first cold start (seconds of work)."""
        self.prepare()

    def reference_assemblies(self) -> tuple[Path, Path]:
        """Our Amazon.Lambda.Core and serializer assemblies, for compiling functions (`mcs -r:`)."""
        built = self.prepare()
        return built / CORE_DLL, built / SERIALIZER_DLL

    def launch(self, ctx: LaunchContext) -> Launch:
        mono = self.mono_for(ctx.runtime_id)
        runtime_dir = self.prepare()
        mounts: tuple[Mount, ...] = ()
        if not mono.resolve().is_relative_to("/usr"):
            home = mono.resolve().parent.parent  # a Mono installed under a prefix: bin/, lib/, etc/
            mounts = (Mount(source=home, target=str(home)),)
        return Launch(
            argv=["/bin/sh", "/var/runtime/bootstrap", str(mono), ctx.handler],
            env={},
            mounts=mounts,
            runtime_dir=runtime_dir,
        )


def _copy_mono_config(dest: Path, host: Path = Path("/etc/mono")) -> None:
    """Mono's configuration, for MONO_CFG_DIR: the sandbox's /etc has no /etc/mono, and without
    its dllmap ("libc" → libc.so.6) even opening a socket fails with DllNotFoundException."""
    for name in MONO_CONFIG_FILES:
        if (host / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(host / name, dest / name)


def _precompile(mono: Path, assemblies: list[Path]) -> None:
    """Best effort: native images (`<assembly>.so`, found by Mono beside the assembly) save the
    JIT work of our own code at every cold start. Needs binutils; without them we just JIT."""
    for assembly in assemblies:
        subprocess.run([str(mono), "--aot", "-O=all", str(assembly)], cwd=assembly.parent,
                       capture_output=True, timeout=300, check=False)


FAMILY_CLASS = DotnetFamily
