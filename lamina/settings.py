"""Server settings: built once at start-up and passed to every constructor."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 9700
    data_dir: Path = Path(".lamina")
    account_id: str = "000000000000"
    region: str = "us-east-1"
    # SigV4 credentials accepted by the API (access key id -> secret).
    credentials: dict[str, str] = field(default_factory=lambda: {"test": "test"})
    sandbox: str = "auto"            # auto | bwrap | process
    keep_alive_s: float = 300.0      # idle environments are reaped after this
    # Pre-warmed Python runtimes per runtime id (lamina.pool.prewarm); 0 = off. Kept for the
    # ids that cold-started within keep_alive_s, and always for those in prewarm_runtimes.
    prewarm: int = 2
    prewarm_runtimes: tuple[str, ...] = ()
    init_timeout_s: float = 10.0     # AWS's on-demand Init limit
    # runtime id -> interpreter path overrides (python3.12 -> /usr/bin/python3.12 ...)
    interpreters: dict[str, str] = field(default_factory=dict)
    account_concurrency: int = 1000
    unreserved_minimum: int = 100
    scaling_per_10s: int = 1000      # new environments per function per 10 s
    scaling_mode: str = "function"   # function | legacy-burst
    legacy_burst: int | None = None  # account-wide burst for legacy mode (by region if None)
    async_retry_delays_s: tuple[float, float] = (60.0, 120.0)
    async_backoff_max_s: float = 300.0
    async_workers: int = 64
    aws_endpoint_url: str | None = None   # S3, SQS, SNS, Kinesis, DynamoDB Streams, EventBridge
    aws_endpoint_overrides: dict[str, str] = field(default_factory=dict)
    metadata_url: str | None = None  # auto (SQLite in data_dir) | postgresql://… (also the event queue)
    blob_url: str | None = None      # auto (files in data_dir) | s3://bucket/prefix (endpoint_for("s3"))

    @property
    def public_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def endpoint_for(self, service: str) -> str | None:
        return self.aws_endpoint_overrides.get(service, self.aws_endpoint_url)

    @staticmethod
    def from_env(**overrides: object) -> Settings:
        """Settings from LAMINA_* environment variables, then explicit overrides."""
        env = os.environ
        values: dict[str, object] = {}
        if "LAMINA_ACCOUNT_ID" in env:
            values["account_id"] = env["LAMINA_ACCOUNT_ID"]
        if "LAMINA_REGION" in env:
            values["region"] = env["LAMINA_REGION"]
        if "LAMINA_SANDBOX" in env:
            values["sandbox"] = env["LAMINA_SANDBOX"]
        if "LAMINA_METADATA_URL" in env:
            values["metadata_url"] = env["LAMINA_METADATA_URL"]
        if "LAMINA_BLOB_URL" in env:
            values["blob_url"] = env["LAMINA_BLOB_URL"]
        if "LAMINA_AWS_ENDPOINT_URL" in env:
            values["aws_endpoint_url"] = env["LAMINA_AWS_ENDPOINT_URL"]
        if "LAMINA_KEEP_ALIVE" in env:
            values["keep_alive_s"] = float(env["LAMINA_KEEP_ALIVE"])
        if "LAMINA_PREWARM" in env:
            values["prewarm"] = int(env["LAMINA_PREWARM"])
        if "LAMINA_PREWARM_RUNTIMES" in env:     # comma-separated runtime ids
            names = env["LAMINA_PREWARM_RUNTIMES"].split(",")
            values["prewarm_runtimes"] = tuple(n.strip() for n in names if n.strip())
        if "LAMINA_ACCESS_KEY_ID" in env:
            values["credentials"] = {env["LAMINA_ACCESS_KEY_ID"]:
                                     env.get("LAMINA_SECRET_ACCESS_KEY", "")}
        for var, key, kind in (("LAMINA_ACCOUNT_CONCURRENCY", "account_concurrency", int),
                               ("LAMINA_UNRESERVED_MINIMUM", "unreserved_minimum", int),
                               ("LAMINA_SCALING_PER_10S", "scaling_per_10s", int),
                               ("LAMINA_SCALING_MODE", "scaling_mode", str),
                               ("LAMINA_LEGACY_BURST", "legacy_burst", int),
                               ("LAMINA_ASYNC_WORKERS", "async_workers", int)):
            if var in env:
                values[key] = kind(env[var])
        if "LAMINA_ASYNC_RETRY_DELAYS" in env:
            a, b = (float(x) for x in env["LAMINA_ASYNC_RETRY_DELAYS"].split(","))
            values["async_retry_delays_s"] = (a, b)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "data_dir" in values:
            values["data_dir"] = Path(str(values["data_dir"]))
        return Settings(**values)  # type: ignore[arg-type]
