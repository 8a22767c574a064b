"""From a stored function version to a `Blueprint`: how its environments are started.

The AWS environment variables are assembled here, in one place: the reserved
ones (which a function's own variables cannot override) and the unreserved
defaults (which they can).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from lamina.pool.environment import Blueprint
from lamina.runtimes.base import Launch, LaunchContext
from lamina.sandbox.base import SandboxSpec
from lamina.settings import Settings

_IDENTITY_FIELDS = ("CodeSha256", "Runtime", "Handler", "MemorySize", "Timeout", "Environment",
                    "Layers", "EphemeralStorage", "LoggingConfig", "Role", "TracingConfig",
                    "RevisionId")


def config_digest(config: dict[str, Any]) -> str:
    picked = {k: config.get(k) for k in _IDENTITY_FIELDS if k != "RevisionId"}
    picked["_code"] = config.get("_code")
    return hashlib.sha256(json.dumps(picked, sort_keys=True).encode()).hexdigest()[:16]


def unreserved_defaults() -> dict[str, str]:
    return {
        "LANG": "en_US.UTF-8",
        "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LD_LIBRARY_PATH": "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:"
                           "/var/task/lib:/opt/lib",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
    }


# Starts every executable in /opt/extensions in the background, then becomes the runtime.
LAUNCHER = 'for e in /opt/extensions/*; do [ -f "$e" ] && [ -x "$e" ] && "$e" & done; exec "$@"'


def external_extensions(opt_dir: Path | None) -> list[str]:
    """Names of the executables a function's layers put in /opt/extensions."""
    folder = opt_dir / "extensions" if opt_dir else None
    if folder is None or not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and os.access(p, os.X_OK))


def build(config: dict[str, Any], settings: Settings, launch: Launch, code_dir: Path,
          opt_dir: Path | None, credentials: tuple[str, str]) -> Blueprint:
    name, version = config["FunctionName"], config["Version"]
    memory = int(config["MemorySize"])
    logging_config = config.get("LoggingConfig") or {}
    log_group = logging_config.get("LogGroup") or f"/aws/lambda/{name}"
    runtime = config.get("Runtime") or ""
    user_env = dict(((config.get("Environment") or {}).get("Variables")) or {})
    extensions = external_extensions(opt_dir)
    argv = ["/bin/sh", "-c", LAUNCHER, "lamina-init", *launch.argv] if extensions else launch.argv

    def spec_for(api_addr: str, stream: str, env_id: str, tmp: Path, fd: int,
                 init_type: str) -> SandboxSpec:
        env = unreserved_defaults()
        env.update(launch.env)
        env.update(user_env)
        env.update({
            "_HANDLER": config.get("Handler") or "",
            "AWS_REGION": settings.region,
            "AWS_DEFAULT_REGION": settings.region,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_LAMBDA_INITIALIZATION_TYPE": init_type,
            "AWS_LAMBDA_LOG_GROUP_NAME": log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_RUNTIME_API": api_addr,
            "LAMBDA_TASK_ROOT": "/var/task",
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "TZ": ":UTC",
            "AWS_ACCESS_KEY_ID": credentials[0],
            "AWS_ACCESS_KEY": credentials[0],
            "AWS_SECRET_ACCESS_KEY": credentials[1],
            "AWS_SESSION_TOKEN": "",
            # Lamina extension: SDKs inside the function reach Lamina for Lambda calls.
            "AWS_ENDPOINT_URL_LAMBDA": settings.public_url,
        })
        if not env["AWS_SESSION_TOKEN"]:
            del env["AWS_SESSION_TOKEN"]
        if runtime and not runtime.startswith("provided"):
            env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{runtime}"
        if logging_config.get("LogFormat") == "JSON":
            env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
            env["AWS_LAMBDA_LOG_LEVEL"] = logging_config.get("ApplicationLogLevel", "INFO")
        if settings.aws_endpoint_url:
            env.setdefault("AWS_ENDPOINT_URL", settings.aws_endpoint_url)
        return SandboxSpec(
            env_id=env_id, argv=argv, env=env, code_dir=code_dir, tmp_dir=tmp,
            tmp_size_mb=int((config.get("EphemeralStorage") or {}).get("Size", 512)),
            memory_mb=memory, stdout_fd=fd, opt_dir=opt_dir, runtime_dir=launch.runtime_dir,
            mounts=launch.mounts)

    return Blueprint(
        key=f"{name}/{version}/{config_digest(config)}", function_name=name, version=version,
        memory_mb=memory, timeout_s=float(config["Timeout"]),
        tmp_mb=int((config.get("EphemeralStorage") or {}).get("Size", 512)),
        log_group=log_group, spec_for=spec_for, runtime=runtime, handler=config.get("Handler") or "",
        extensions=len(extensions), launch=launch)


# Read by a process when it starts (the interpreter, the C library, the dynamic loader):
# a pre-warmed runtime started without the function's values cannot take them later.
STARTUP_VARIABLES = ("PYTHON", "LD_", "LC_", "MALLOC_", "GLIBC_", "LANG", "LANGUAGE", "TZ",
                     "AWS_LAMBDA_EXEC_WRAPPER")


def standby_env(launch: Launch, api_addr: str) -> dict[str, str]:
    """The environment of a pre-warmed runtime (lamina.pool.prewarm): nothing of any
    function, only what every function of `launch` starts with."""
    env = unreserved_defaults()
    env.update(launch.env)
    env.update({"AWS_LAMBDA_RUNTIME_API": api_addr, "LAMBDA_TASK_ROOT": "/var/task",
                "LAMBDA_RUNTIME_DIR": "/var/runtime", "TZ": ":UTC", "_LAMINA_STANDBY": "1"})
    return env


def startup_differences(standby: dict[str, str], function: dict[str, str]) -> list[str]:
    """Startup variables whose value (or presence) differs between the two environments."""
    names = {k for k in (*standby, *function) if k.startswith(STARTUP_VARIABLES)}
    return sorted(k for k in names if standby.get(k) != function.get(k))


def launch_context(config: dict[str, Any], code_dir: Path, opt_dir: Path | None) -> LaunchContext:
    return LaunchContext(runtime_id=config.get("Runtime") or "provided.al2023",
                         handler=config.get("Handler") or "", code_dir=code_dir, opt_dir=opt_dir)

