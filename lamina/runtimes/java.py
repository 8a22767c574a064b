"""The Java runtime family: java8.al2, java11, java17, java21, java25.

Our runtime is a small Java program (`java_bootstrap/src`, no dependencies) that
implements the Runtime API loop, loads the function from /var/task (classes, `lib/*.jar`)
and /opt/java/lib/*.jar, and implements the `aws-lambda-java-core` interfaces that the
function bundles (`java_bootstrap/bridge`, see `Bridge.java` for how). It is compiled with
`javac --release 17` the first time it is needed and cached by source hash (`build_cache`).

Cold starts are mostly CPU (the sandbox's CPU quota scales with memory, as on AWS), so:
no lambdas or indy string concatenation in the runtime, JIT thresholds raised (see
`bootstrap.sh`), and a class-data-sharing archive per JDK, recorded by running a
training function (`java_bootstrap/training`) once. That archive only works when the
runtime jar is seen at the path it was recorded with, so `launch` shows the build folder
at its host path (as well as at /var/runtime). Call `warm()` at server start, in a
thread: compiling and recording take seconds that would otherwise fall on a first invoke.

Which JDK runs which runtime id: an explicit entry in `interpreters` wins (key = the
runtime id, or "java" for all; value = a `java` executable or a JDK home). Otherwise
the JDKs under /usr/lib/jvm are used, picking the oldest one whose major version is at
least the runtime's, or the newest one if none is new enough. On this project's hosts
(JDK 17 and Temurin 25) that means java8.al2/java11 → 17 and java21 → 25: see
`substitutions()`. Running a function on a newer JDK than AWS would is the usual
compatibility direction for Java; an older one would not load its class files.
"""

from __future__ import annotations

import http.server
import re
import shutil
import subprocess
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lamina.runtimes import build_cache
from lamina.runtimes.base import Launch, LaunchContext, LaunchError, RuntimeFamily
from lamina.sandbox.base import Mount

RUNTIME_MAJORS: dict[str, int] = {"java8.al2": 8, "java11": 11, "java17": 17, "java21": 21, "java25": 25}
BOOTSTRAP_SOURCES = Path(__file__).with_name("java_bootstrap")
JVM_ROOT = Path("/usr/lib/jvm")
CLASS_RELEASE = "17"  # the oldest JDK we run on; class files load on every newer one
MAIN_CLASS = "lamina.runtime.Main"
RUNTIME_JAR = "bootstrap.jar"
CDS_ARCHIVE = "runtime.jsa"
SANDBOX_OWNED = tuple(Path(p) for p in ("/tmp", "/var/task", "/var/runtime", "/opt", "/proc", "/dev"))
# String concatenation compiled to plain StringBuilder calls instead of invokedynamic: the first
# indy call site costs a JVM tens of milliseconds of bootstrapping (the sources avoid lambdas
# for the same reason).
STARTUP_FLAGS = ("-XDstringConcat=inline",)


@dataclass(frozen=True)
class Jdk:
    """One installed JDK (or JRE): its home folder and major version."""

    home: Path
    major: int

    @property
    def java(self) -> Path:
        return self.home / "bin" / "java"

    @property
    def javac(self) -> Path | None:
        path = self.home / "bin" / "javac"
        return path if path.exists() else None


def jdk_from_path(path: str) -> Jdk:
    """A JDK from a `java` executable or a JDK home; raises LaunchError if unusable."""
    p = Path(path)
    resolved = p.resolve() if p.exists() else p
    home = resolved.parent.parent if resolved.name == "java" else resolved
    major = _major_version(home)
    if major is None or not (home / "bin" / "java").exists():
        raise LaunchError("Runtime.Unavailable", f"{path} is not a usable JDK")
    return Jdk(home, major)


def _major_version(home: Path) -> int | None:
    """JAVA_VERSION from the `release` file every JDK ships ("1.8.0_x" → 8, "17.0.2" → 17)."""
    try:
        text = (home / "release").read_text()
    except OSError:
        return None
    m = re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', text, re.MULTILINE)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def installed_jdks(root: Path = JVM_ROOT) -> list[Jdk]:
    """JDKs found under `root`, one per real folder, oldest first."""
    found: dict[Path, Jdk] = {}
    for entry in sorted(root.glob("*")) if root.is_dir() else []:
        home = entry.resolve()
        major = _major_version(home)
        if major is not None and (home / "bin" / "java").exists():
            found.setdefault(home, Jdk(home, major))
    return sorted(found.values(), key=lambda j: (j.major, str(j.home)))


class JavaFamily(RuntimeFamily):
    """Java runtimes on the host's JDKs. `interpreters`: see the module docstring."""

    name = "java"

    def __init__(self, interpreters: dict[str, str]) -> None:
        self._explicit = dict(interpreters)
        self._installed: list[Jdk] | None = None
        self._prepared: Path | None = None
        self._cds: dict[Path, Path | None] = {}

    def runtime_ids(self) -> tuple[str, ...]:
        return tuple(RUNTIME_MAJORS)

    def jdk_for(self, runtime_id: str) -> Jdk:
        """The JDK that runs `runtime_id`; raises LaunchError when none fits."""
        if runtime_id not in RUNTIME_MAJORS:
            raise LaunchError("Runtime.InvalidRuntime", f"{runtime_id} is not a Java runtime")
        explicit = self._explicit.get(runtime_id) or self._explicit.get("java")
        if explicit:
            return jdk_from_path(explicit)
        if self._installed is None:
            self._installed = installed_jdks()
        if not self._installed:
            raise LaunchError("Runtime.Unavailable", f"no JDK found under {JVM_ROOT} for {runtime_id}")
        wanted = RUNTIME_MAJORS[runtime_id]
        newer = [j for j in self._installed if j.major >= wanted]
        return newer[0] if newer else self._installed[-1]

    def substitutions(self) -> dict[str, str]:
        """Runtime ids served by a JDK of another major version: id → "JDK <n> at <home>"."""
        out: dict[str, str] = {}
        for rid, major in RUNTIME_MAJORS.items():
            try:
                jdk = self.jdk_for(rid)
            except LaunchError as e:
                out[rid] = f"unavailable: {e.message}"
                continue
            if jdk.major != major:
                out[rid] = f"JDK {jdk.major} at {jdk.home}"
        return out

    def prepare(self) -> Path:
        """Compile the bootstrap if this source version was never built; returns its folder.

        The folder holds `bootstrap` (the launcher), `bootstrap.jar` (the runtime) and
        `training/` (the function run to record CDS archives).
        """
        if self._prepared is not None:
            return self._prepared
        javac = self._javac().resolve()
        # The compiler's identity without starting a JVM: its path and modification time.
        key = f"{javac} {javac.stat().st_mtime_ns} --release {CLASS_RELEASE} {build_cache.recipe(__file__)}"

        def build(out: Path) -> None:
            _javac(javac, BOOTSTRAP_SOURCES / "src", out / "classes", STARTUP_FLAGS)
            # training/ declares the aws-lambda-java-core API; bridge/ compiles against it but
            # only the bridge classes go into the jar (see Bridge.java).
            _javac(javac, BOOTSTRAP_SOURCES / "training", out / "training", ())
            _javac(javac, BOOTSTRAP_SOURCES / "bridge", out / "classes",
                   (*STARTUP_FLAGS, "-cp", str(out / "training")))
            _zip_tree(out / "classes", out / RUNTIME_JAR)
            shutil.rmtree(out / "classes")
            shutil.copyfile(BOOTSTRAP_SOURCES / "bootstrap.sh", out / "bootstrap")
            (out / "bootstrap").chmod(0o755)

        self._prepared = build_cache.build_once("java-runtime", BOOTSTRAP_SOURCES, key, build)
        return self._prepared

    def warm(self) -> None:
        """Build the runtime and record a CDS archive for every JDK in use, ahead of the first
        cold start (seconds of work: run it in a thread at server start)."""
        for jdk in {self.jdk_for(rid) for rid in RUNTIME_MAJORS if self._available(rid)}:
            self.cds_archive(jdk)

    def _available(self, runtime_id: str) -> bool:
        try:
            self.jdk_for(runtime_id)
        except LaunchError:
            return False
        return True

    def cds_archive(self, jdk: Jdk) -> Path | None:
        """A class-data-sharing archive of the runtime for `jdk`, recorded once; None if unusable.

        The archive names the runtime jar by its host path, and the JVM only accepts it when
        the jar is at that same path, so `launch` mounts the build folder at its own path.
        """
        if jdk.home in self._cds:
            return self._cds[jdk.home]
        built = self.prepare()
        modules = jdk.home / "lib" / "modules"  # what CDS validates: the JDK's class image
        stamp = modules.stat().st_mtime_ns if modules.exists() else 0
        key = f"{jdk.home} {stamp} {built}"
        archive: Path | None
        try:
            folder = build_cache.build_once("java-cds", built, key, lambda out: _record_cds(jdk, built, out))
            archive = folder / CDS_ARCHIVE
        except (LaunchError, OSError, subprocess.SubprocessError):
            archive = None  # startup is slower without it, nothing else changes
        self._cds[jdk.home] = archive
        return archive

    def _javac(self) -> Path:
        candidates: list[Jdk] = []
        for path in self._explicit.values():
            try:
                candidates.append(jdk_from_path(path))
            except LaunchError:
                continue
        candidates += installed_jdks()
        for jdk in candidates:
            if jdk.javac and jdk.major >= int(CLASS_RELEASE):
                return jdk.javac
        on_path = shutil.which("javac")
        if on_path:
            return Path(on_path)
        raise LaunchError("Runtime.Unavailable", "javac (JDK 17 or newer) is needed to build the Java runtime")

    def launch(self, ctx: LaunchContext) -> Launch:
        jdk = self.jdk_for(ctx.runtime_id)
        built = self.prepare()
        mounts: list[Mount] = []
        if not jdk.home.is_relative_to("/usr"):
            mounts.append(Mount(source=jdk.home, target=str(jdk.home)))
        # With a CDS archive the jar must be seen at its host path (see cds_archive); a cache
        # under a folder the sandbox replaces (its own /tmp, say) cannot be, so it goes without.
        archive = None if _shadowed(built) else self.cds_archive(jdk)
        if archive is None or _shadowed(archive):
            jar, archive = f"/var/runtime/{RUNTIME_JAR}", None
        else:
            jar = str(built / RUNTIME_JAR)
            mounts += [Mount(source=built, target=str(built)), Mount(source=archive.parent, target=str(archive.parent))]
        return Launch(
            argv=["/bin/sh", "/var/runtime/bootstrap", str(jdk.java), jar, str(archive or ""), ctx.handler],
            env={},
            mounts=tuple(mounts),
            runtime_dir=built,
        )


def _shadowed(path: Path) -> bool:
    """True for host paths that a sandbox covers with its own folders."""
    return any(path.is_relative_to(p) for p in SANDBOX_OWNED)


def _javac(javac: Path, sources: Path, out: Path, flags: tuple[str, ...]) -> None:
    files = sorted(str(p) for p in sources.rglob("*.java"))
    done = subprocess.run(
        [str(javac), "--release", CLASS_RELEASE, "-encoding", "UTF-8", "-nowarn", *flags,
         "-d", str(out), *files],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise LaunchError("Runtime.Unavailable", f"javac failed:\n{done.stderr[-2000:]}")


def _zip_tree(root: Path, jar: Path) -> None:
    """A jar of `root` (CDS archives classes from jars only, never from folders)."""
    with zipfile.ZipFile(jar, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(root.rglob("*")):
            z.write(path, path.relative_to(root).as_posix())


def _record_cds(jdk: Jdk, built: Path, out: Path) -> None:
    """Run the training function twice against a throwaway Runtime API, dumping classes at exit."""
    server = _TrainingApi()
    try:
        done = subprocess.run(
            [str(jdk.java), f"-XX:ArchiveClassesAtExit={out / CDS_ARCHIVE}", "-XX:TieredStopAtLevel=1",
             "-XX:+UseSerialGC", "-Xshare:auto", "-cp", str(built / RUNTIME_JAR), MAIN_CLASS,
             "lamina.training.Echo"],
            env={"PATH": "/usr/bin:/bin", "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.port}",
                 "LAMBDA_TASK_ROOT": str(built / "training"), "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"},
            capture_output=True, timeout=120, check=False,
        )
    finally:
        server.close()
    if not (out / CDS_ARCHIVE).exists():
        raise LaunchError("Runtime.Unavailable", f"CDS recording failed: {done.stderr[-500:]!r}")


class _TrainingApi:
    """Serves two events on 127.0.0.1, then fails /next so the runtime exits (and dumps)."""

    def __init__(self) -> None:
        events = [b'{"name":"cds","numbers":[1,2],"extra":{"a":[true,null,1.5]}}'] * 2

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                body = events.pop() if events else b"done"
                self.send_response(200 if body != b"done" else 500)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Lambda-Runtime-Aws-Request-Id", str(uuid.uuid4()))
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60000))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


FAMILY_CLASS = JavaFamily
