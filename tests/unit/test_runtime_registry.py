"""Runtime ids, the registry, and host interpreter discovery (no processes started)."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

from lamina.runtimes import registry
from lamina.runtimes.base import LaunchContext, LaunchError
from lamina.runtimes.interpreters import find_python, runtime_version
from lamina.runtimes.python import BOOTSTRAP_DIR, PythonFamily
from lamina.runtimes.registry import (
    RUNTIME_IDS,
    Registry,
    family_name,
)

ROOT = Path(__file__).resolve().parents[2]


def _model_enum() -> list[str]:
    checked_in = ROOT / "lamina/model/lambda-2015-03-31.json"
    if checked_in.is_file():
        model = json.loads(checked_in.read_text())
    else:
        import botocore  # type: ignore[import-untyped]
        source = Path(botocore.__file__).parent / "data/lambda/2015-03-31/service-2.json.gz"
        model = json.loads(gzip.decompress(source.read_bytes()))
    return list(model["shapes"]["Runtime"]["enum"])


def test_runtime_ids_are_the_model_enum() -> None:
    assert list(RUNTIME_IDS) == _model_enum()


def test_installed_botocore_agrees() -> None:
    botocore = pytest.importorskip("botocore")
    source = Path(botocore.__file__).parent / "data/lambda/2015-03-31/service-2.json.gz"
    model = json.loads(gzip.decompress(source.read_bytes()))
    assert list(RUNTIME_IDS) == model["shapes"]["Runtime"]["enum"]


def test_every_accepted_runtime_has_a_family_that_serves_it() -> None:
    from lamina.control.runtimes import ACCEPTED, NEWER
    registry_ = Registry()
    for rid in (*ACCEPTED, *NEWER):
        name = family_name(rid)
        assert name, rid
        try:
            family = registry_.family_for(rid)
        except LaunchError as exc:       # a family whose language this host lacks
            assert exc.error_type == "Runtime.Unavailable", (rid, exc.message)
            continue
        assert rid in family.runtime_ids(), rid


@pytest.mark.parametrize(("rid", "family"), [
    ("python3.12", "python"), ("nodejs22.x", "nodejs"), ("java8.al2", "java"),
    ("dotnet10", "dotnet"), ("dotnetcore3.1", "dotnet"), ("ruby3.4", "ruby"),
    ("provided.al2023", "provided"), ("go1.x", None), ("PYTHON3.12", None), ("cobol", None),
])
def test_family_name(rid: str, family: str | None) -> None:
    assert family_name(rid) == family


def test_registry_builds_each_family_once() -> None:
    reg = Registry({"python3.12": sys.executable})
    family = reg.family_for("python3.12")
    assert isinstance(family, PythonFamily)
    assert reg.family_for("python3.13") is family
    assert reg.loaded_families() == {"python": family}


def test_registry_unknown_runtime() -> None:
    with pytest.raises(LaunchError) as info:
        Registry().family_for("cobol85")
    assert info.value.error_type == "Runtime.InvalidRuntime"


def test_registry_tolerates_a_missing_family(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail as if the module did not exist.
    monkeypatch.setitem(sys.modules, "lamina.runtimes.ruby", None)
    reg = Registry()
    with pytest.raises(LaunchError) as info:
        reg.family_for("ruby3.4")
    assert info.value.error_type == "Runtime.Unavailable"
    assert isinstance(reg.family_for("python3.12"), PythonFamily)


def test_registry_passes_interpreter_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    class Probe(PythonFamily):
        def __init__(self, interpreters: dict[str, str]) -> None:
            seen.update(interpreters)
            super().__init__(interpreters)

    monkeypatch.setattr("lamina.runtimes.python.FAMILY_CLASS", Probe)
    Registry({"python3.12": "/x/python3.12", "nodejs20.x": "/y/node"}).family_for("python3.12")
    assert seen == {"python3.12": "/x/python3.12", "nodejs20.x": "/y/node"}


# -- interpreter discovery on fake installations ---------------------------------------

def _fake_python(prefix: Path, version: str) -> Path:
    """A file tree that looks like an installed CPython (ELF magic + lib/pythonX.Y/os.py)."""
    binary = prefix / "bin" / f"python{version}"
    binary.parent.mkdir(parents=True, exist_ok=True)
    binary.write_bytes(b"\x7fELF" + b"\0" * 60)
    binary.chmod(0o755)
    lib = prefix / "lib" / f"python{version}"
    lib.mkdir(parents=True, exist_ok=True)
    (lib / "os.py").write_text("")
    return binary


def _shim(root: Path, name: str) -> Path:
    shim = root / "shims" / name
    shim.parent.mkdir(parents=True, exist_ok=True)
    shim.write_text(f'#!/usr/bin/env bash\nset -e\nexport PYENV_ROOT="{root}"\n'
                    f'exec "{root}/libexec/pyenv" exec "$program" "$@"\n')
    shim.chmod(0o755)
    return shim


def _find(rid: str, tmp: Path, **kw: object):  # type: ignore[no-untyped-def]
    kw.setdefault("search_path", "")
    kw.setdefault("system_dirs", ())
    kw.setdefault("pyenv_roots", [])
    return find_python(rid, **kw)  # type: ignore[arg-type]


def test_pyenv_shim_resolves_to_newest_patch(tmp_path: Path) -> None:
    root = tmp_path / "pyenv"
    _fake_python(root / "versions/3.12.1", "3.12")
    newest = _fake_python(root / "versions/3.12.10", "3.12")
    _shim(root, "python3.12")
    found = _find("python3.12", tmp_path, search_path=str(root / "shims"))
    assert found.path == newest and found.prefix == root / "versions/3.12.10"
    assert found.substituted_for is None and found.source == "PATH"
    assert [(m.source, m.target) for m in found.mounts] == [
        (root / "versions/3.12.10", str(root / "versions/3.12.10"))]


def test_symlink_resolved_and_pyenv_versions_searched(tmp_path: Path) -> None:
    real = _fake_python(tmp_path / "pyenv/versions/3.11.7", "3.11")
    links = tmp_path / "bin"
    links.mkdir()
    (links / "python3.11").symlink_to(real)
    assert _find("python3.11", tmp_path, search_path=str(links)).path == real
    found = _find("python3.11", tmp_path, pyenv_roots=[tmp_path / "pyenv"])
    assert (found.path, found.source) == (real, "pyenv")


def test_substitution_prefers_the_next_newer_version(tmp_path: Path) -> None:
    root = tmp_path / "pyenv"
    for minor in (11, 12, 13):
        _fake_python(root / f"versions/3.{minor}.0", f"3.{minor}")
    found = _find("python3.10", tmp_path, pyenv_roots=[root])
    assert (found.version, found.substituted_for) == ("3.11", "python3.10")
    found = _find("python3.14", tmp_path, pyenv_roots=[root])
    assert (found.version, found.substituted_for) == ("3.13", "python3.14")
    with pytest.raises(LaunchError):
        _find("python3.14", tmp_path, pyenv_roots=[root], allow_substitution=False)


def test_no_interpreter_at_all(tmp_path: Path) -> None:
    with pytest.raises(LaunchError) as info:
        _find("python3.12", tmp_path)
    assert info.value.error_type == "Runtime.Unavailable"


def test_scripts_and_bare_binaries_are_rejected(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "python3.12"
    script.write_text("#!/bin/sh\nexec something\n")
    script.chmod(0o755)
    with pytest.raises(LaunchError):
        _find("python3.12", tmp_path, search_path=str(bin_dir))
    script.unlink()
    orphan = bin_dir / "python3.12"            # ELF, but no lib/python3.12/os.py next to it
    orphan.write_bytes(b"\x7fELF")
    orphan.chmod(0o755)
    with pytest.raises(LaunchError):
        _find("python3.12", tmp_path, search_path=str(bin_dir), allow_substitution=False)


def test_override_wins_and_is_checked(tmp_path: Path) -> None:
    custom = _fake_python(tmp_path / "opt/py", "3.12")
    found = find_python("python3.12", {"python3.12": str(custom)})
    assert (found.path, found.source, found.substituted_for) == (custom, "config", None)
    found = find_python("python3.13", {"python3.13": str(custom)})
    assert found.substituted_for == "python3.13" and found.version == "3.12"
    with pytest.raises(LaunchError):
        find_python("python3.12", {"python3.12": str(tmp_path / "missing")})


def test_system_prefix_needs_no_mount(tmp_path: Path) -> None:
    if not Path("/usr/bin/python3.11").is_file():
        pytest.skip("no Debian python3.11")
    found = _find("python3.11", tmp_path, system_dirs=("/usr/bin",))
    assert found.prefix == Path("/usr") and found.mounts == ()


def test_runtime_version() -> None:
    assert runtime_version("python3.12") == (3, 12)
    with pytest.raises(ValueError):
        runtime_version("nodejs20.x")


def test_python_launch(tmp_path: Path) -> None:
    binary = _fake_python(tmp_path / "py312", "3.12")
    family = PythonFamily({"python3.12": str(binary)})
    launch = family.launch(LaunchContext("python3.12", "handler.handler", tmp_path, None))
    assert launch.argv == [str(binary), "-u", "-s", "/var/runtime/bootstrap.py"]
    assert launch.runtime_dir == BOOTSTRAP_DIR
    assert (BOOTSTRAP_DIR / "bootstrap.py").is_file()
    from lamina.runtimes.python import SDK_TARGET, sdk_folder
    assert [(m.source, m.target) for m in launch.mounts] == [
        (tmp_path / "py312", str(tmp_path / "py312")),   # the interpreter's prefix
        (sdk_folder(), SDK_TARGET)]                        # boto3, as AWS's runtimes ship it
    assert launch.env == {"PATH": f"{tmp_path / 'py312'}/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"}
    assert family.runtime_ids() == ("python3.8", "python3.9", "python3.10", "python3.11",
                                    "python3.12", "python3.13", "python3.14")
    assert registry.family_name("python3.12") == family.name
