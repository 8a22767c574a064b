"""The Node.js and Ruby runtime families as data: ids, argv, env, mounts, substitutions.

No processes are started here: interpreter probes are replaced by fakes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lamina.runtimes import nodejs, ruby
from lamina.runtimes.base import LaunchContext, LaunchError, RuntimeFamily
from lamina.sandbox.base import Mount

HOST_RUBY = ruby.RubyInfo(
    version="3.1.2",
    abi="3.1.0",
    gem_dirs=("/root/.local/share/gem/ruby/3.1.0", "/var/lib/gems/3.1.0",
              "/usr/lib/ruby/gems/3.1.0", "/usr/share/rubygems-integration/all"),
)


# An executable the sandbox can show (under /usr); the probes are faked, so it never runs.
ANY_USR_BINARY = "/usr/bin/env"


def executable(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def ctx(runtime_id: str, tmp_path: Path, handler: str = "index.handler") -> LaunchContext:
    return LaunchContext(runtime_id=runtime_id, handler=handler, code_dir=tmp_path, opt_dir=None)


# --------------------------------------------------------------------------- Node.js


def node_family(tmp_path: Path, version: str = "20.20.2") -> nodejs.NodejsFamily:
    binary = executable(tmp_path / "usr-node")
    ids = nodejs.RUNTIME_IDS
    return nodejs.FAMILY_CLASS({rid: binary for rid in ids}, version_probe=lambda _b: version)


def test_node_family_shape() -> None:
    family = nodejs.FAMILY_CLASS({})
    assert isinstance(family, RuntimeFamily)
    assert family.name == "nodejs"
    assert family.runtime_ids() == ("nodejs16.x", "nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x")


@pytest.mark.parametrize("runtime_id, major", [("nodejs20.x", "20"), ("nodejs22.x", "22"),
                                                ("nodejs24.x", "24")])
def test_node_launch(runtime_id: str, major: str, tmp_path: Path) -> None:
    if not os.access("/usr/bin/node", os.X_OK):
        pytest.skip("no /usr/bin/node on this host")
    launch = nodejs.FAMILY_CLASS({}).launch(ctx(runtime_id, tmp_path))
    assert launch.argv[1] == "/var/runtime/index.mjs"
    assert launch.argv[0] in nodejs.DEFAULT_INTERPRETERS
    assert launch.env["NODE_PATH"] == (
        f"/opt/nodejs/node{major}/node_modules:/opt/nodejs/node_modules:"
        "/var/runtime/node_modules:/var/runtime:/var/task")
    assert launch.env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_{runtime_id}"
    assert launch.mounts == ()
    assert launch.runtime_dir == nodejs.BOOTSTRAP_DIR
    assert (launch.runtime_dir / "index.mjs").is_file()


def test_node_missing_interpreter_raises(tmp_path: Path) -> None:
    family = nodejs.FAMILY_CLASS({"nodejs22.x": str(tmp_path / "nope")})
    with pytest.raises(LaunchError) as err:
        family.launch(ctx("nodejs22.x", tmp_path))
    assert err.value.error_type == "Runtime.Unavailable"
    assert "nope" in err.value.message


def test_node_rejects_foreign_runtime(tmp_path: Path) -> None:
    with pytest.raises(LaunchError):
        nodejs.FAMILY_CLASS({}).launch(ctx("python3.12", tmp_path))


def test_node_overrides_ignore_other_families(tmp_path: Path) -> None:
    family = nodejs.FAMILY_CLASS({"ruby3.3": str(tmp_path / "x"), "nodejs20.x": str(tmp_path / "y")})
    assert family.interpreter("nodejs20.x") is None  # the override is honoured, and missing


def test_node_substitutions(tmp_path: Path) -> None:
    assert node_family(tmp_path, "20.20.2").substitutions() == {
        "nodejs16.x": f"Node.js 20.20.2 ({tmp_path / 'usr-node'})",
        "nodejs18.x": f"Node.js 20.20.2 ({tmp_path / 'usr-node'})",
        "nodejs22.x": f"Node.js 20.20.2 ({tmp_path / 'usr-node'})",
        "nodejs24.x": f"Node.js 20.20.2 ({tmp_path / 'usr-node'})",
    }
    assert node_family(tmp_path, "22.1.0").substitutions()["nodejs20.x"].startswith("Node.js 22.1.0")
    missing = nodejs.FAMILY_CLASS({rid: "/nonexistent/node" for rid in nodejs.RUNTIME_IDS})
    assert set(missing.substitutions().values()) == {"no interpreter on this host"}


def test_node_version_probe_is_cached(tmp_path: Path) -> None:
    calls: list[Path] = []

    def probe(binary: Path) -> str:
        calls.append(binary)
        return "24.0.0"

    binary = executable(tmp_path / "node")
    family = nodejs.FAMILY_CLASS({rid: binary for rid in nodejs.RUNTIME_IDS}, version_probe=probe)
    family.substitutions()
    family.substitutions()
    assert calls == [Path(binary)]


# --------------------------------------------------------------------------- interpreter mounts


def test_interpreter_under_usr_needs_no_mount() -> None:
    assert nodejs.sandbox_interpreter(Path("/usr/local/bin/node")) == ("/usr/local/bin/node", ())


def test_symlink_outside_usr_is_resolved(tmp_path: Path) -> None:
    # A link to an interpreter outside /usr is resolved and its real prefix mounted, so the
    # sandbox never shows a dangling link (e.g. /usr/local/bin/node -> /srv/node/bin/node).
    target = Path("/srv/node/bin/node")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert nodejs.sandbox_interpreter(link) == (str(target), (Mount(Path("/srv/node"), "/srv/node"),))


def test_interpreter_outside_usr_mounts_its_prefix() -> None:
    argv0, mounts = nodejs.sandbox_interpreter(Path("/srv/node-v22/bin/node"))
    assert argv0 == "/srv/node-v22/bin/node"
    assert mounts == (Mount(source=Path("/srv/node-v22"), target="/srv/node-v22"),)


def test_interpreter_outside_bin_mounts_its_folder() -> None:
    _, mounts = nodejs.sandbox_interpreter(Path("/srv/tools/node"))
    assert mounts == (Mount(source=Path("/srv/tools"), target="/srv/tools"),)


def test_interpreter_symlink_into_usr_uses_the_target(tmp_path: Path) -> None:
    link = tmp_path / "node"
    link.symlink_to("/usr/bin/env")
    assert nodejs.sandbox_interpreter(link) == (os.path.realpath("/usr/bin/env"), ())


@pytest.mark.parametrize("path", ["/opt/node/bin/node", "/tmp/node/bin/node", "/var/task/bin/node",
                                  "/node"])
def test_interpreter_overlapping_sandbox_paths_is_refused(path: str) -> None:
    with pytest.raises(LaunchError):
        nodejs.sandbox_interpreter(Path(path))


# --------------------------------------------------------------------------- Ruby


def ruby_family(binary: str | None = None) -> ruby.RubyFamily:
    overrides = {rid: binary for rid in ruby.RUNTIME_IDS} if binary else {}
    return ruby.FAMILY_CLASS(overrides, probe=lambda _b: HOST_RUBY)


def test_ruby_family_shape() -> None:
    family = ruby.FAMILY_CLASS({})
    assert isinstance(family, RuntimeFamily)
    assert family.name == "ruby"
    assert family.runtime_ids() == ("ruby3.2", "ruby3.3", "ruby3.4", "ruby4.0")


def test_gem_path_order_and_visibility() -> None:
    assert ruby.gem_path("ruby3.3", HOST_RUBY).split(":") == [
        "/var/task/vendor/bundle/ruby/3.3.0",
        "/var/task/vendor/bundle/ruby/3.1.0",
        "/opt/ruby/gems/3.3.0",
        "/opt/ruby/gems/3.1.0",
        "/usr/lib/ruby/gems/3.1.0",            # host folders outside /usr are not in the sandbox
        "/usr/share/rubygems-integration/all",
    ]
    same_abi = ruby.RubyInfo("3.4.1", "3.4.0", ("/usr/lib/ruby/gems/3.4.0",))
    assert ruby.gem_path("ruby3.4", same_abi) == (
        "/var/task/vendor/bundle/ruby/3.4.0:/opt/ruby/gems/3.4.0:/usr/lib/ruby/gems/3.4.0")


@pytest.mark.parametrize("runtime_id", ["ruby3.3", "ruby3.4"])
def test_ruby_launch(runtime_id: str, tmp_path: Path) -> None:
    binary = ANY_USR_BINARY
    launch = ruby_family(binary).launch(ctx(runtime_id, tmp_path, "function.handler"))
    assert launch.argv == [binary, "/var/runtime/lib/runtime.rb"]
    assert launch.env["RUBYLIB"] == "/var/task:/opt/ruby/lib"
    assert launch.env["GEM_PATH"] == ruby.gem_path(runtime_id, HOST_RUBY, ("/usr/",))
    assert launch.env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_{runtime_id}"
    assert launch.runtime_dir == ruby.BOOTSTRAP_DIR
    assert (launch.runtime_dir / "lib" / "runtime.rb").is_file()


def test_ruby_missing_interpreter_raises(tmp_path: Path) -> None:
    with pytest.raises(LaunchError) as err:
        ruby_family(str(tmp_path / "no-ruby")).launch(ctx("ruby3.3", tmp_path))
    assert err.value.error_type == "Runtime.Unavailable"


def test_ruby_broken_interpreter_raises(tmp_path: Path) -> None:
    def broken(binary: Path) -> ruby.RubyInfo:
        raise LaunchError("Runtime.Unavailable", f"{binary} does not run")

    family = ruby.FAMILY_CLASS({"ruby3.3": ANY_USR_BINARY}, probe=broken)
    with pytest.raises(LaunchError, match="does not run"):
        family.launch(ctx("ruby3.3", tmp_path))
    assert family.substitutions()["ruby3.3"] == f"Ruby unknown ({ANY_USR_BINARY})"


def test_ruby_rejects_foreign_runtime(tmp_path: Path) -> None:
    with pytest.raises(LaunchError) as err:
        ruby_family().launch(ctx("nodejs20.x", tmp_path))
    assert err.value.error_type == "Runtime.InvalidRuntime"


def test_families_load_through_the_registry() -> None:
    from lamina.runtimes.registry import Registry

    registry = Registry({"ruby3.3": ANY_USR_BINARY})
    assert isinstance(registry.family_for("nodejs24.x"), nodejs.NodejsFamily)
    assert isinstance(registry.family_for("ruby3.4"), ruby.RubyFamily)


def test_ruby_substitutions(tmp_path: Path) -> None:
    binary = executable(tmp_path / "ruby")
    assert ruby_family(binary).substitutions() == {
        "ruby3.2": f"Ruby 3.1.2 ({binary})",
        "ruby3.3": f"Ruby 3.1.2 ({binary})",
        "ruby3.4": f"Ruby 3.1.2 ({binary})",
        "ruby4.0": f"Ruby 3.1.2 ({binary})",
    }
    exact = ruby.FAMILY_CLASS({"ruby3.3": binary, "ruby3.4": binary},
                              probe=lambda _b: ruby.RubyInfo("3.3.6", "3.3.0", ()))
    assert list(exact.substitutions()) == ["ruby3.2", "ruby3.4", "ruby4.0"]


def test_ruby_probe_runs_once_per_binary(tmp_path: Path) -> None:
    calls: list[Path] = []

    def probe(binary: Path) -> ruby.RubyInfo:
        calls.append(binary)
        return HOST_RUBY

    family = ruby.FAMILY_CLASS({rid: ANY_USR_BINARY for rid in ruby.RUNTIME_IDS}, probe=probe)
    for runtime_id in ruby.RUNTIME_IDS:
        family.launch(ctx(runtime_id, tmp_path))
    assert calls == [Path(ANY_USR_BINARY)]
