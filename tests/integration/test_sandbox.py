"""The sandbox backends for real: bubblewrap, cgroups, tmpfs, /usr/bin/python3 inside.

Needs root (cgroups, tmpfs) and a working bwrap; skipped otherwise. Every test
uses its own cgroup parent (lamina-test-<pid>) and checks that it leaves no
cgroup and no mount behind, because the host is shared with other work.
Run with `-s` to see the start-latency figures.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.sandbox.auto import bwrap_usable, make_backend
from lamina.sandbox.base import Sandbox, SandboxBackend, SandboxSpec
from lamina.sandbox.bwrap import BwrapBackend, signal_status
from lamina.sandbox.cgroups import CgroupsV1, NoCgroups, cpu_quota_us, detect
from lamina.sandbox.process import ProcessBackend, path_map, rewrite_env, rewrite_path

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for cgroups and tmpfs"),
    pytest.mark.skipif(not bwrap_usable(), reason="bubblewrap cannot create namespaces here"),
]

PY = "/usr/bin/python3"
PARENT = f"lamina-test-{os.getpid()}"
CGROUP_ROOT = Path("/sys/fs/cgroup")


def leftovers() -> list[str]:
    """Cgroups of this test run still present in any hierarchy."""
    return [str(p) for p in CGROUP_ROOT.glob(f"*/{PARENT}*")] + \
           [str(p) for p in CGROUP_ROOT.glob(f"*/*/{PARENT}*")]


def mounted(path: Path) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(path) for line in f)


class Env:
    """A code folder, a /tmp folder and a log file for one sandbox."""

    def __init__(self, root: Path, name: str = "fn") -> None:
        self.root = root / name
        self.code = self.root / "code"
        self.tmp = self.root / "tmp"
        self.code.mkdir(parents=True)
        self.tmp.mkdir()
        self.log_path = self.root / "out.log"
        self.log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.count = 0

    def spec(self, argv: list[str], **kw: object) -> SandboxSpec:
        self.count += 1
        args: dict[str, object] = dict(
            env_id=f"{self.root.name}-{self.count}", argv=argv, env={"PATH": "/usr/bin:/bin"},
            code_dir=self.code, tmp_dir=self.tmp, tmp_size_mb=16, memory_mb=256,
            stdout_fd=self.log_fd)
        args.update(kw)
        return SandboxSpec(**args)  # type: ignore[arg-type]

    def log(self) -> str:
        return self.log_path.read_text()

    async def wait_output(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            assert time.monotonic() < deadline, f"no {text!r} in {self.log()!r}"
            await asyncio.sleep(0.02)


@pytest.fixture(scope="module")
def backend() -> Iterator[BwrapBackend]:
    # "weight" CPU mode keeps the tests fast; the quota is checked on its own.
    b = BwrapBackend(detect(parent=PARENT, cpu_mode="weight"))
    yield b
    asyncio.run(b.close())
    assert leftovers() == []


@pytest.fixture
def env(tmp_path: Path, backend: BwrapBackend) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    asyncio.run(backend.release_tmp(e.tmp))
    os.close(e.log_fd)
    assert not mounted(e.tmp)


async def run(backend: SandboxBackend, spec: SandboxSpec, timeout: float = 30) -> int:
    sb = await backend.start(spec)
    try:
        return await asyncio.wait_for(sb.wait(), timeout)
    finally:
        await sb.destroy()


def py(backend: SandboxBackend, env: Env, code: str, **kw: object) -> tuple[int, str]:
    rc = asyncio.run(run(backend, env.spec([PY, "-c", code], **kw)))
    return rc, env.log()


# ------------------------------------------------------------------ what is visible

def test_env_is_exactly_the_spec(backend: BwrapBackend, env: Env) -> None:
    spec_env = {"PATH": "/usr/bin:/bin", "LAMBDA_TASK_ROOT": "/var/task", "_HANDLER": "app.h",
                "WITH_SPACE": "a b  c", "WITH_EQ": "k=v=w", "EMPTY": ""}
    os.environ["LAMINA_TEST_LEAK"] = "must-not-be-seen"
    try:
        rc = asyncio.run(run(backend, env.spec(["/usr/bin/env"], env=spec_env)))
    finally:
        del os.environ["LAMINA_TEST_LEAK"]
    assert rc == 0
    seen = dict(line.split("=", 1) for line in env.log().splitlines())
    # bwrap always sets PWD to the working directory, as a shell would.
    assert seen == {**spec_env, "PWD": "/var/task"}


def test_identity_and_layout(backend: BwrapBackend, env: Env) -> None:
    (env.code / "app.py").write_text("X = 42\n")
    rc, out = py(backend, env, """
import os, sys
sys.path.insert(0, "/var/task")
import app
print(app.X, os.getuid(), os.getgid(), os.getgroups(), os.getcwd())
print(sorted(os.listdir("/")))
print(open("/etc/passwd").read().count(":x:"), os.path.exists("/etc/shadow"))
print(open("/proc/self/status").read().split("CapEff:")[1].split()[0])
import resource
print(resource.getrlimit(resource.RLIMIT_NOFILE))
""", max_open_files=1000)
    assert rc == 0, out
    lines = out.splitlines()
    assert lines[0] == "42 993 990 [] /var/task"
    assert lines[1] == str(sorted(["bin", "dev", "etc", "lib", "lib64", "opt", "proc", "sbin",
                                   "tmp", "usr", "var"]))
    assert lines[2] == "3 False"                    # root, sbx_user1051, nobody
    assert lines[3] == "0000000000000000"           # no capabilities
    assert lines[4] == "(1000, 1000)"


def test_var_task_and_root_are_read_only(backend: BwrapBackend, env: Env) -> None:
    (env.code / "handler.py").write_text("")
    os.chmod(env.code / "handler.py", 0o666)     # only the read-only mount protects it
    os.chmod(env.code, 0o777)
    rc, out = py(backend, env, """
import errno
for path in ["/var/task/handler.py", "/var/task/new", "/new", "/etc/x", "/usr/x", "/opt/x",
             "/var/x", "/dev/shm/x"]:
    try:
        open(path, "a").close()
        print(path, "WRITABLE")
    except OSError as e:
        print(path, errno.errorcode[e.errno])
""")
    assert rc == 0, out
    assert "WRITABLE" not in out, out
    assert "/var/task/handler.py EROFS" in out and "/var/task/new EROFS" in out


def test_tmp_is_writable_and_size_limited(backend: BwrapBackend, env: Env) -> None:
    rc, out = py(backend, env, """
import errno, os
open("/tmp/small", "w").write("ok")
print("small", open("/tmp/small").read())
try:
    with open("/tmp/big", "wb") as f:
        for _ in range(12):
            f.write(b"x" * (1 << 20))
            f.flush()
    print("big fits")
except OSError as e:
    print("big", errno.errorcode[e.errno])
""", tmp_size_mb=8)
    assert rc == 0, out
    assert "small ok" in out and "big ENOSPC" in out
    # /tmp outlives the sandbox (AWS keeps it across restarts of an environment) ...
    rc, out = py(backend, env, "print(open('/tmp/small').read())")
    assert out.endswith("ok\n")
    # ... and lives in a mount namespace of its own, never in the host's mount table.
    assert not mounted(env.tmp) and not any(env.tmp.iterdir())


def test_tmp_is_private_to_its_environment(backend: BwrapBackend, env: Env,
                                           tmp_path: Path) -> None:
    other = Env(tmp_path, "other")
    try:
        py(backend, env, "open('/tmp/mine', 'w').write('a')")
        rc, out = py(backend, other, "import os; print(sorted(os.listdir('/tmp')))")
        assert rc == 0 and out.strip() == "[]", out
    finally:
        asyncio.run(backend.release_tmp(other.tmp))
        os.close(other.log_fd)


def test_host_processes_are_invisible(backend: BwrapBackend, env: Env) -> None:
    rc, out = py(backend, env, """
import os
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print(pids, os.getpid(), open("/proc/1/cmdline").read().split("\\0")[0])
try:
    os.listdir("/proc/1/root")
    print("pid 1 root readable")
except OSError as e:
    print("pid 1 root", e.__class__.__name__)
""")
    assert rc == 0, out
    pids, me, init = out.splitlines()[0].rsplit(" ", 2)
    assert eval(pids) == [1, 2] and me == "2"      # bwrap's init and us, nothing else
    assert init.endswith("bwrap")
    assert "pid 1 root PermissionError" in out
    assert str(os.getpid()) not in pids


def test_host_files_are_invisible(backend: BwrapBackend, env: Env, tmp_path: Path) -> None:
    sibling = tmp_path / "fn" / "other-code"
    sibling.mkdir()
    (sibling / "secret.txt").write_text("secret")
    os.chmod(sibling / "secret.txt", 0o644)
    rc, out = py(backend, env, f"""
for path in ["/root", "/home", "{sibling}/secret.txt", "/var/task/../other-code/secret.txt",
             "/etc/ssl/private", "/sys/fs/cgroup", "/work", "/var/lib"]:
    try:
        open(path).read() if "." in path.rsplit("/", 1)[1] else __import__("os").listdir(path)
        print(path, "VISIBLE")
    except OSError as e:
        print(path, e.__class__.__name__)
""")
    assert rc == 0, out
    assert "VISIBLE" not in out, out


# ------------------------------------------------------------------ limits

def test_memory_hog_is_oom_killed(backend: BwrapBackend, env: Env) -> None:
    async def go() -> tuple[int, bool, int]:
        sb = await backend.start(env.spec(
            [PY, "-c", "x = b'x' * (128 << 20); print('survived')"], memory_mb=64))
        rc = await asyncio.wait_for(sb.wait(), 30)
        oom, peak = sb.oom_killed(), sb.memory_peak_mb()
        await sb.destroy()
        assert sb.oom_killed() == oom             # still answers after destroy
        return rc, oom, peak
    rc, oom, peak = asyncio.run(go())
    assert rc == -9 and oom, (rc, oom, env.log())
    assert "survived" not in env.log()
    assert 50 <= peak <= 64
    # The host and the backend are fine: the next sandbox runs normally.
    rc, out = py(backend, env, "print('next ok')")
    assert rc == 0 and out.endswith("next ok\n")


def test_fork_bomb_is_contained_and_destroy_cleans_up(backend: BwrapBackend, env: Env) -> None:
    bomb = """
import os, time
print("bombing", flush=True)
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
"""

    async def go() -> None:
        spec = env.spec([PY, "-c", bomb], max_processes=48)
        sb = await backend.start(spec)
        pids_dir = CGROUP_ROOT / "pids" / PARENT / spec.env_id
        for _ in range(600):    # generous: the test host may be busy
            await asyncio.sleep(0.05)
            if int((pids_dir / "pids.current").read_text()) >= 48:
                break
        current = int((pids_dir / "pids.current").read_text())
        assert 40 <= current <= 48, current
        assert "max" in (pids_dir / "pids.events").read_text()
        procs = [int(p) for p in (CGROUP_ROOT / "memory" / PARENT / spec.env_id
                                  / "cgroup.procs").read_text().split()]
        t = time.perf_counter()
        await sb.destroy()
        print(f"\nfork bomb of {current} processes destroyed in "
              f"{(time.perf_counter() - t) * 1000:.1f} ms")
        assert not pids_dir.exists()
        assert not any(os.path.exists(f"/proc/{p}") and _in_test_cgroup(p) for p in procs)
        assert sb.returncode() is not None
    asyncio.run(go())
    assert [p for p in leftovers() if p.count("/") > 5] == []    # only the parents remain


def _in_test_cgroup(pid: int) -> bool:
    try:
        return PARENT in Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False


def test_memory_peak_and_reset(backend: BwrapBackend, env: Env) -> None:
    code = """
import sys, time
x = bytearray(50 << 20)
for i in range(0, len(x), 4096):
    x[i] = 1
del x
print("freed", flush=True)
sys.stdin = None
time.sleep(30)
"""

    async def go() -> tuple[int, int]:
        sb = await backend.start(env.spec([PY, "-c", code]))
        await env.wait_output("freed")
        peak = sb.memory_peak_mb()
        sb.reset_peak()
        after = sb.memory_peak_mb()
        await sb.destroy()
        return peak, after
    peak, after = asyncio.run(go())
    print(f"\npeak after allocating 50 MB: {peak} MB; after reset_peak: {after} MB")
    assert 50 <= peak <= 90
    assert after < 30


def test_cpu_quota_follows_memory(env: Env) -> None:
    cg = detect(parent=PARENT + "-q")
    assert isinstance(cg, CgroupsV1)              # this host: hybrid, controllers on v1
    b = BwrapBackend(cg)
    try:
        async def go() -> None:
            spec = env.spec(["/usr/bin/true"], memory_mb=512)
            sb = await b.start(spec)
            cpu = CGROUP_ROOT / "cpu" / (PARENT + "-q") / spec.env_id
            assert int((cpu / "cpu.cfs_quota_us").read_text()) == -1, "Init runs uncapped"
            sb.init_done()
            assert int((cpu / "cpu.cfs_quota_us").read_text()) == cpu_quota_us(512, cg.cores)
            mem = CGROUP_ROOT / "memory" / (PARENT + "-q") / spec.env_id
            assert int((mem / "memory.limit_in_bytes").read_text()) == 512 << 20
            await sb.wait()
            await sb.destroy()
        asyncio.run(go())
    finally:
        asyncio.run(b.close())


# ------------------------------------------------------------------ lifecycle

def test_destroy_is_idempotent(backend: BwrapBackend, env: Env) -> None:
    async def go() -> Sandbox:
        sb = await backend.start(env.spec([PY, "-c", "import time; time.sleep(30)"]))
        await asyncio.gather(sb.destroy(), sb.destroy())
        await sb.destroy()
        assert await sb.wait() == -9
        assert sb.returncode() == -9
        sb.reset_peak()
        assert sb.memory_peak_mb() >= 1 and not sb.oom_killed()
        return sb
    asyncio.run(go())


def test_cancelled_start_leaves_nothing_behind(backend: BwrapBackend, env: Env) -> None:
    async def go() -> int:
        cancelled = 0
        for delay in (0, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016):
            spec = env.spec([PY, "-c", "import time; time.sleep(30)"])
            try:
                sb = await asyncio.wait_for(backend.start(spec), delay)
            except TimeoutError:
                cancelled += 1
            else:
                await sb.destroy()
            assert not (CGROUP_ROOT / "memory" / PARENT / spec.env_id).exists(), delay
        return cancelled
    # Cancelled at one or more points of start() (how many depends on the machine's speed);
    # what matters is that no cancellation leaves a cgroup or a process behind.
    assert asyncio.run(go()) >= 1
    procs = [p for p in Path("/proc").iterdir() if p.name.isdigit()]
    assert [p for p in procs if _in_test_cgroup(int(p.name))] == []


def test_exit_status_and_startup_errors(backend: BwrapBackend, env: Env) -> None:
    rc, _ = py(backend, env, "raise SystemExit(3)")
    assert rc == 3
    rc, _ = py(backend, env, "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    assert rc == -11
    rc = asyncio.run(run(backend, env.spec(["/var/task/missing"])))
    assert rc != 0 and "missing" in env.log()
    rc = asyncio.run(run(backend, env.spec(["/usr/bin/true"], code_dir=env.root / "nope")))
    assert rc == 1 and "nope" in env.log()
    assert signal_status(137) == -9 and signal_status(0) == 0 and signal_status(128) == 128


def test_mounts_opt_runtime_and_layers(backend: BwrapBackend, env: Env) -> None:
    opt, runtime, extra = env.root / "opt", env.root / "runtime", env.root / "extra"
    for d, name in ((opt, "layer.txt"), (runtime, "bootstrap"), (extra, "interp")):
        d.mkdir()
        (d / name).write_text(name)
    from lamina.sandbox.base import Mount
    rc, out = py(backend, env, """
for p in ["/opt/layer.txt", "/var/runtime/bootstrap", "/lang/py/interp"]:
    print(open(p).read())
""", opt_dir=opt, runtime_dir=runtime, mounts=(Mount(extra, "/lang/py"),))
    assert rc == 0, out
    assert out.split() == ["layer.txt", "bootstrap", "interp"]


# ------------------------------------------------------------------ process backend

def test_process_backend_rewrites_paths(env: Env) -> None:
    b = ProcessBackend(detect(parent=PARENT + "-p", cpu_mode="weight"))
    try:
        code = ("import os, resource; print(os.getcwd()); "
                "print(os.environ['LAMBDA_TASK_ROOT'], os.environ['PYTHONPATH']); "
                "st = os.statvfs(os.environ['TMP']); print(st.f_blocks * st.f_frsize >> 20, "
                "resource.getrlimit(resource.RLIMIT_NOFILE)[0]); "
                "print(open('/proc/self/cgroup').read())")
        spec = env.spec([PY, "-c", code], tmp_size_mb=8, max_open_files=512,
                        env={"LAMBDA_TASK_ROOT": "/var/task", "PYTHONPATH": "/var/runtime:/opt/py",
                             "TMP": "/tmp", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"})
        rc = asyncio.run(run(b, spec))
        out = env.log().splitlines()
        assert rc == 0, out
        assert out[0] == str(env.code)
        assert out[1] == f"{env.code} /var/runtime:/opt/py"     # no runtime/opt dirs: kept
        assert out[2] == "8 512"                                 # tmpfs at the tmp folder
        assert any(line.endswith(f":memory:/{PARENT}-p/{spec.env_id}") for line in out[3:])
    finally:
        asyncio.run(b.close())
        asyncio.run(b.release_tmp(env.tmp))


def test_rewrite_rules(tmp_path: Path) -> None:
    from lamina.sandbox.base import Mount
    spec = SandboxSpec(env_id="x", argv=[], env={}, code_dir=Path("/d/code"),
                       tmp_dir=Path("/d/tmp"), tmp_size_mb=1, memory_mb=1, stdout_fd=1,
                       opt_dir=Path("/d/opt"), mounts=(Mount(Path("/h/node"), "/var/lang"),))
    m = path_map(spec)
    assert rewrite_path("/var/task", m) == "/d/code"
    assert rewrite_path("/var/task/app.py", m) == "/d/code/app.py"
    assert rewrite_path("/var/taskforce", m) == "/var/taskforce"
    assert rewrite_path("/var/runtime/x", m) == "/var/runtime/x"        # no runtime_dir
    assert rewrite_env({"PATH": "/var/lang/bin:/usr/bin:/opt/bin",
                        "API": "127.0.0.1:9001", "T": "/tmp"}, m) == {
        "PATH": "/h/node/bin:/usr/bin:/d/opt/bin", "API": "127.0.0.1:9001", "T": "/d/tmp"}


def test_make_backend(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown sandbox backend"):
        make_backend("docker")
    for name in ("bwrap", "auto"):
        b = make_backend(name, cgroup_parent=PARENT + "-a", state_dir=tmp_path)
        assert isinstance(b, BwrapBackend)
        assert (tmp_path / "etc" / "passwd").exists()
        asyncio.run(b.close())
    p = make_backend("process", cgroup_parent=PARENT + "-a", cpu_mode="weight")
    assert isinstance(p, ProcessBackend) and not p.isolated
    asyncio.run(p.close())


# ------------------------------------------------------------------ latency

def _median_start_ms(backend: SandboxBackend, env: Env, argv: list[str], runs: int = 20) -> float:
    """Time from start() to the child's first output line, median over `runs`."""
    async def go() -> list[float]:
        times = []
        for _ in range(runs):
            r, w = os.pipe()
            spec = env.spec([*argv], stdout_fd=w)
            t = time.perf_counter()
            sb = await backend.start(spec)
            os.close(w)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, os.read, r, 64)
            times.append((time.perf_counter() - t) * 1000)
            os.close(r)
            await sb.wait()
            await sb.destroy()
        return times
    return statistics.median(asyncio.run(go()))


def test_start_latency(backend: BwrapBackend, env: Env) -> None:
    echo = ["/usr/bin/echo", "up"]
    pypass = [PY, "-S", "-c", "print('up')"]
    proc = ProcessBackend(detect(parent=PARENT + "-l", cpu_mode="weight"))
    try:
        figures = {
            "bwrap   echo": _median_start_ms(backend, env, echo),
            "process echo": _median_start_ms(proc, env, echo),
            "bwrap   python3 -S": _median_start_ms(backend, env, pypass),
            "process python3 -S": _median_start_ms(proc, env, pypass),
        }
    finally:
        asyncio.run(proc.close())
    print()
    for name, ms in figures.items():
        print(f"start -> first output, median of 20, {name}: {ms:.1f} ms")


def test_rlimit_fallback_without_cgroups(env: Env) -> None:
    b = BwrapBackend(NoCgroups())
    try:
        rc, out = py(b, env, """
import resource
print(resource.getrlimit(resource.RLIMIT_DATA))
try:
    x = bytearray(200 << 20)
    print("allocated")
except MemoryError:
    print("MemoryError")
""", memory_mb=128)
        assert rc == 0, out
        assert f"({128 << 20}, {128 << 20})" in out and "MemoryError" in out
    finally:
        asyncio.run(b.close())


def test_process_backend_without_cgroups_reports_peak(env: Env) -> None:
    b = ProcessBackend(NoCgroups())
    code = ("x = bytearray(60 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1\n"
            "print('ready', flush=True)\nimport time; time.sleep(30)")

    async def go() -> int:
        sb = await b.start(env.spec([PY, "-c", code], memory_mb=512))
        await env.wait_output("ready")
        peak = sb.memory_peak_mb()
        await sb.destroy()
        assert await sb.wait() == -9
        return peak
    try:
        peak = asyncio.run(go())
        assert 60 <= peak <= 100, peak          # VmHWM of the process tree
    finally:
        asyncio.run(b.close())
        asyncio.run(b.release_tmp(env.tmp))
