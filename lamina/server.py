"""The composition root: builds every part from one `Settings` and serves the API.

Implementations are chosen here and only here (SQLite or PostgreSQL, filesystem
or S3 blobs, bwrap or process sandboxes).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from pathlib import Path
from typing import Any

from aiohttp import web

from lamina.api import s3_notifications
from lamina.api.app import build_app
from lamina.arns import Arns, FunctionRef
from lamina.control.aliases import Aliases
from lamina.control.code import CodeCache
from lamina.control.codesigning import CodeSigning
from lamina.control.concurrency import Concurrency
from lamina.control.esm import EventSourceMappings
from lamina.control.eventinvoke import EventInvokeConfigs
from lamina.control.function_settings import FunctionSettings
from lamina.control.functions import Functions
from lamina.control.layers import LAYER_VERSION, Layers, OptDirs
from lamina.control.policies import Policies
from lamina.control.resolve import FUNCTION, VERSION
from lamina.control.s3code import S3CodeFetcher
from lamina.control.urls import Urls
from lamina.events.base import EventSources
from lamina.invoke.admission import Admission, Limits
from lamina.invoke.delivery import Delivery
from lamina.invoke.destinations import Destinations
from lamina.invoke.provisioning import Provisioner
from lamina.invoke.queue import AsyncQueue, EventStorage, EventStore
from lamina.invoke.service import Invoker
from lamina.observe.logs import LogStore
from lamina.observe.metrics import Metrics
from lamina.observe.prometheus import prometheus
from lamina.pool.pool import Pool
from lamina.runtime_api.server import RuntimeApiServer
from lamina.runtimes.base import LaunchContext, LaunchError
from lamina.runtimes.registry import Registry
from lamina.sandbox.auto import make_backend
from lamina.settings import Settings
from lamina.store.base import BlobStore, MetadataStore
from lamina.store.blob_fs import FilesystemBlobStore
from lamina.store.sqlite import SqliteMetadataStore

log = logging.getLogger("lamina")


def _stores(settings: Settings, data: Path) -> tuple[MetadataStore, BlobStore, EventStorage]:
    """The storage implementations (STYLE §6: chosen here only; `auto` = embedded).

    metadata_url: auto -> SQLite files in the data dir; postgresql://… -> PostgreSQL for
    metadata and for the async event queue (replicas that share functions must share events).
    blob_url: auto -> files in the data dir; s3://bucket/prefix -> that bucket on
    `endpoint_for("s3")`, with a download cache in the data dir.
    PostgreSQL modules are imported only when asked for: psycopg is an optional extra.
    """
    meta = settings.metadata_url or "auto"
    store: MetadataStore
    events: EventStorage
    if meta == "auto":
        store, events = SqliteMetadataStore(data / "lamina.db"), EventStore(data / "events.db")
    elif meta.startswith(("postgresql://", "postgres://")):
        from lamina.invoke.queue_postgres import PostgresEventStore, replica_id
        from lamina.store.postgres import PostgresMetadataStore
        store = PostgresMetadataStore(meta)
        events = PostgresEventStore(meta, replica_id(data))
    else:
        raise ValueError(f"metadata URL must be auto or postgresql://…, not {meta!r}")
    blob = settings.blob_url or "auto"
    blobs: BlobStore
    if blob == "auto":
        blobs = FilesystemBlobStore(data / "blobs")
    elif blob.startswith("s3://"):
        from lamina.aws_clients import AwsClients
        from lamina.store.blob_s3 import S3BlobStore, parse_s3_url
        bucket, prefix = parse_s3_url(blob)
        s3 = S3BlobStore(AwsClients(settings, read_timeout=60).get("s3"), bucket, prefix,
                         data / "blob-cache")
        s3.check()
        blobs = s3
    else:
        raise ValueError(f"blob URL must be auto or s3://bucket/prefix, not {blob!r}")
    return store, blobs, events


class Services:
    """Every long-lived part of one server, wired together."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        data = settings.data_dir.resolve()
        data.mkdir(parents=True, exist_ok=True)
        self.data_dir = data
        self.arns = Arns(settings.region, settings.account_id)
        self.store, self.blobs, self.events = _stores(settings, data)
        self.code = CodeCache(data / "code", self.blobs)
        self.functions = Functions(self.store, self.blobs, self.code, self.arns)
        self.s3code = S3CodeFetcher(settings)
        self.functions.fetch_s3 = self.s3code.fetch  # type: ignore[method-assign]
        self.layers = Layers(self.store, self.blobs, self.code, self.arns, self.s3code.fetch)
        self.functions.layer_resolver = self.layers.resolve
        self.opt_dirs = OptDirs(data / "opt", self.layers, self.code)
        self.aliases = Aliases(self.functions)
        self.policies = Policies(self.functions)
        self.aliases.delete_listeners.append(self.policies.drop)   # an alias's policy goes with it
        # Function URLs: http://<url-id>.lambda-url.<region>.localhost:<port>/
        self.urls = Urls(self.functions, f"localhost:{settings.port}")
        self.logs = LogStore(data / "logs")
        self.runtime_api = RuntimeApiServer()
        self.backend = make_backend(settings.sandbox, state_dir=data / "sandbox")
        self.pool = Pool(self.backend, self.runtime_api, self.logs, data / "envs",
                         settings.keep_alive_s, prewarm=settings.prewarm)
        self.runtimes = Registry(settings.interpreters)
        self.concurrency = Concurrency(self.functions, self.aliases, settings.account_concurrency,
                                       settings.unreserved_minimum)
        self.admission = Admission.from_settings(
            settings, self.pool, lambda: Limits(*self.concurrency.limits()))
        # AWS/Lambda metrics: admission, the invoker, destinations and pollers record into it.
        self.metrics = Metrics(data / "metrics.json")
        self.admission.metrics = self.metrics
        self.invoker = Invoker(settings, self.functions, self.aliases, self.pool, self.runtimes,
                               self.code, self.admission, layers=self.opt_dirs)
        # Provisioned environments are built from the same blueprints invocations use.
        self.provisioner = Provisioner(self.concurrency, self.functions, self.pool,
                                       self.invoker.blueprint)
        self.concurrency.listeners += [self.admission.refresh, self.provisioner.wake]
        self.functions.listeners += [self.admission.refresh, self.provisioner.wake]
        self.event_invoke = EventInvokeConfigs(self.functions)
        self.outcomes = Destinations(settings, self.event_invoke, self.invoker)
        self.delivery = Delivery(settings, self.invoker, self.events, self.outcomes)
        self.queue = AsyncQueue(self.events, self.delivery, settings.async_workers,
                                on_enqueue=self.outcomes.received)
        self.invoker.queue = self.queue
        self.invoker.metrics = self.metrics
        # Event source mappings and their pollers (one task per enabled mapping).
        self.esm = EventSourceMappings(self.functions)
        # Code signing configs (and CreateFunction/UpdateFunctionCode checks); recursion and
        # runtime management settings.
        self.code_signing = CodeSigning(self.functions)
        self.function_settings = FunctionSettings(self.functions)
        self.event_sources = EventSources(settings, self.esm, self.invoker, self.store)
        self._code_key = self._secret(data / "code.key")

    @staticmethod
    def _secret(path: Path) -> bytes:
        if not path.exists():
            path.write_bytes(secrets.token_bytes(32))
            path.chmod(0o600)
        return path.read_bytes()

    async def start(self) -> None:
        await self.runtime_api.start()
        self.logs.start()
        self.metrics.start()
        self.pool.start()
        self.provisioner.start()
        self.queue.start()
        self.event_sources.start()
        # Finish transitions that a previous run left Pending/InProgress.
        for name, _ in self.store.scan(FUNCTION):
            await self.functions.activate(name)
        self._warming = asyncio.get_running_loop().create_task(self._warm_runtimes())
        for runtime_id in self.settings.prewarm_runtimes if self.pool.prewarm else ():
            try:        # Python runtimes whose pre-warmed slots are kept from the start
                launch = self.runtimes.launch(LaunchContext(runtime_id, "", self.data_dir, None))
            except LaunchError as exc:
                log.warning("cannot pre-warm %s: %s", runtime_id, exc.message)
                continue
            if self.pool.prewarm is not None:
                self.pool.prewarm.keep(runtime_id, launch)

    async def _warm_runtimes(self) -> None:
        """Build the compiled runtimes (Java, .NET) now rather than on a first cold start."""
        for runtime_id in ("java17", "dotnet8"):
            try:
                family = self.runtimes.family_for(runtime_id)
            except LaunchError:
                continue      # not installed on this host
            warm = getattr(family, "warm", None)
            if warm is not None:
                try:
                    await asyncio.to_thread(warm)
                except Exception:
                    log.exception("preparing the %s runtime failed", runtime_id)

    async def close(self) -> None:
        await self.event_sources.close()
        await self.queue.close()
        await self.provisioner.close()
        await self.pool.close()
        await self.runtime_api.close()
        await self.logs.close()
        await self.metrics.close()
        await self.backend.close()
        self.store.close()

    # -- helpers the API handlers use --------------------------------------------------------

    def configuration_changed(self, function_name: str) -> None:
        name = FunctionRef.parse(function_name).name
        self.invoker.forget(name)
        asyncio.get_running_loop().create_task(self.pool.retire(name, keep_keys=set()))

    def code_token(self, digest: str) -> str:
        return hmac.new(self._code_key, digest.encode(), hashlib.sha256).hexdigest()[:32]

    def code_location(self, config: dict[str, Any]) -> str:
        digest = config["_code"]
        return f"{self.settings.public_url}/_lamina/code/{digest}.zip?token={self.code_token(digest)}"

    def account_settings(self) -> dict[str, Any]:
        reserved = self.concurrency.reserved_total()
        # As AWS counts it: every version's package and every layer version's archive.
        total_code = sum(int(doc.get("CodeSize") or 0) for _, doc in self.store.scan(VERSION))
        total_code += sum(int((doc.get("Content") or {}).get("CodeSize") or 0)
                          for _, doc in self.store.scan(LAYER_VERSION)
                          if not doc.get("_deleted"))  # deleted versions are tombstones
        return {
            "AccountLimit": {
                "TotalCodeSize": 80530636800,
                "CodeSizeUnzipped": 262144000,
                "CodeSizeZipped": 52428800,
                "ConcurrentExecutions": self.settings.account_concurrency,
                "UnreservedConcurrentExecutions": self.settings.account_concurrency - reserved,
            },
            "AccountUsage": {"TotalCodeSize": total_code,
                             "FunctionCount": len(self.store.scan(FUNCTION))},
        }


def _internal_routes(services: Services) -> Any:
    async def download_code(request: web.Request) -> web.StreamResponse:
        digest = request.match_info["digest"]
        token = request.query.get("token", "")
        if not hmac.compare_digest(token, services.code_token(digest)):
            return web.Response(status=403, text="AccessDenied")
        # Off the event loop: with an S3 blob store this may download the blob first.
        try:
            path = await asyncio.to_thread(services.blobs.local_path, digest)
        except FileNotFoundError:
            return web.Response(status=403, text="AccessDenied")
        if not path.exists():
            return web.Response(status=403, text="AccessDenied")
        return web.FileResponse(path, headers={"Content-Type": "application/zip"})

    async def metrics_text(request: web.Request) -> web.Response:
        # Unauthenticated, like most Prometheus targets: it shows function names and counts
        # only. Bind the server to a private address if that is too much.
        return web.Response(body=prometheus(services.metrics).encode(),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    def add(app: web.Application) -> None:
        app.router.add_get("/_lamina/code/{digest}.zip", download_code)
        app.router.add_get("/_lamina/metrics", metrics_text)
        s3_notifications.add_routes(app, services)   # webhooks of S3-compatible stores
    return add


async def serve(settings: Settings, ready: asyncio.Event | None = None,
                edge_config: Path | None = None, edge_port: int = 9701) -> None:
    # The Lambda@Edge proxy (lamina/edge) is optional; a bad distribution fails before anything starts.
    distribution = None
    if edge_config is not None:
        from lamina.edge.config import load as load_edge
        distribution = load_edge(edge_config)
    services = Services(settings)
    await services.start()
    app = build_app(settings, services, _internal_routes(services))
    runner = web.AppRunner(app, access_log=None, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_address=True)
    await site.start()
    key, secret = next(iter(settings.credentials.items()))
    print(f"Lamina is serving the AWS Lambda API at {settings.public_url}\n"
          f"  account id: {settings.account_id}   region: {settings.region}\n"
          f"  credentials: AWS_ACCESS_KEY_ID={key} AWS_SECRET_ACCESS_KEY={secret}\n"
          f"  sandbox: {services.backend.name}   data dir: {services.data_dir}", flush=True)
    edge = None
    if distribution is not None:
        from lamina.edge.proxy import start_local
        edge = await start_local(services, distribution, settings.host, edge_port)
    if ready is not None:
        ready.set()
    try:
        await asyncio.Event().wait()
    finally:
        if edge is not None:
            await edge.close()
        await runner.cleanup()
        await services.close()
