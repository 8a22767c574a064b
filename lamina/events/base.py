"""The `Poller` interface and `EventSources`, which runs one poller per enabled mapping.

A poller reads its source (SQS, Kinesis, DynamoDB Streams) on the AWS-compatible
endpoint `Settings.endpoint_for(<service>)`, filters, batches, and invokes the
mapping's function **synchronously through the `Invoker`**, so reserved
concurrency, admission and throttling apply as to any caller.

Lifecycle: `EventSources.start()` starts a poller for every enabled mapping (the
mappings live in the metadata store, so this survives restarts) and listens to
`EventSourceMappings`; a changed mapping's poller is stopped and, if the mapping
is still enabled, started afresh with the new configuration. Stopping cancels
the poller task; an invocation already running is shielded and finishes in the
background with its result ignored, so a source sees at-least-once delivery.

boto3 is blocking; its calls run on daemon threads (`blocking()`), never on the
event loop and never in the loop's default executor, whose handful of workers a
20 s long poll would starve; daemon threads also never hold up process exit.
"""

from __future__ import annotations

import abc
import asyncio
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lamina.aws_clients import AwsClients
from lamina.control.esm import EventSourceMappings
from lamina.errors import LaminaError, TooManyRequestsException
from lamina.invoke.destinations import AgeStats
from lamina.invoke.service import Invoker, InvokeRequest, InvokeResponse
from lamina.settings import Settings
from lamina.store.base import Doc, MetadataStore

log = logging.getLogger("lamina.events")

CHECKPOINT = "esm_checkpoint"     # key "<uuid>/<shard id>" -> {"seq": last processed}
T = TypeVar("T")


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking call on a daemon thread and await its result."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def work() -> None:
        try:
            value, error = fn(*args, **kwargs), None
        except BaseException as exc:
            value, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, value, error)
        except RuntimeError:     # the loop is closed: nobody waits any more
            pass

    threading.Thread(target=work, daemon=True, name="lamina-poller-io").start()
    return await future


@dataclass
class Stats:
    """Counters for the metrics exporter, keyed by function name."""

    iterator_age: dict[str, AgeStats] = field(default_factory=dict)   # streams, ms
    last_iterator_age_ms: dict[str, float] = field(default_factory=dict)  # by mapping UUID
    batches: Counter[str] = field(default_factory=Counter)
    records: Counter[str] = field(default_factory=Counter)
    invoke_errors: Counter[str] = field(default_factory=Counter)
    on_failure_sent: Counter[str] = field(default_factory=Counter)
    on_failure_errors: Counter[str] = field(default_factory=Counter)


@dataclass
class Context:
    """What every poller shares."""

    settings: Settings
    invoker: Invoker
    store: MetadataStore
    aws: AwsClients
    stats: Stats


@dataclass
class Outcome:
    """One synchronous invocation of a batch."""

    response: InvokeResponse | None = None
    error: LaminaError | None = None

    @property
    def ok(self) -> bool:
        return self.response is not None and not self.response.function_error

    @property
    def throttled(self) -> bool:
        return isinstance(self.error, TooManyRequestsException)

    @property
    def function_failed(self) -> bool:
        """The function ran and failed (counts as a retry); else a platform error."""
        return self.response is not None and bool(self.response.function_error)

    def result(self) -> Any:
        """The function's JSON result; raises ValueError if it is not JSON."""
        payload = self.response.payload if self.response else b""
        return json.loads(payload) if payload.strip() else None


class Poller(abc.ABC):
    """Reads one mapping's source until cancelled.

    `run()` never returns while the source exists; errors reading the source are
    logged and retried with back-off. `stop()` is called just before the task is
    cancelled, so that a blocking read in flight can hand back what it got.
    """

    def __init__(self, mapping: Doc, ctx: Context) -> None:
        self.mapping = mapping
        self.ctx = ctx
        self.uuid: str = mapping["UUID"]
        self.function: str = mapping["_function"]
        self.arn: str = mapping["EventSourceArn"]
        self.region = mapping["EventSourceArn"].split(":")[3] or ctx.settings.region
        self.stopped = False

    @abc.abstractmethod
    async def run(self) -> None: ...

    def stop(self) -> None:
        self.stopped = True

    @property
    def reports_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in (self.mapping.get("FunctionResponseTypes") or [])

    async def invoke(self, event: dict[str, Any]) -> Outcome:
        """Invoke the function with one batch, synchronously, through the invoker."""
        request = InvokeRequest(function_name=self.mapping["FunctionArn"],
                                payload=json.dumps(event).encode())
        self.ctx.stats.batches[self.function] += 1
        self.ctx.stats.records[self.function] += len(event.get("Records") or [])
        # Stream pollers sample the batch's age just before every invoke (streams._sample_age).
        age_ms = self.ctx.stats.last_iterator_age_ms.get(self.uuid)
        if age_ms is not None:
            self.ctx.invoker.metrics.record("IteratorAge", self.function, age_ms)
        # Shielded: stopping the poller must not kill an invocation halfway.
        task = asyncio.ensure_future(self.ctx.invoker.invoke(request))
        try:
            response = await asyncio.shield(task)
        except LaminaError as exc:
            self.ctx.stats.invoke_errors[self.function] += 1
            log.info("mapping %s: invoking %s failed: %s", self.uuid, self.function, exc.message)
            return Outcome(error=exc)
        if response.function_error:
            self.ctx.stats.invoke_errors[self.function] += 1
        return Outcome(response=response)


def poller_for(mapping: Doc, ctx: Context) -> Poller:
    # Imported here: the pollers import this module.
    from lamina.events.dynamodb_streams import DynamoDBStreamsPoller
    from lamina.events.kinesis import KinesisPoller
    from lamina.events.sqs import SqsPoller

    kinds: dict[str, type[Poller]] = {"sqs": SqsPoller, "kinesis": KinesisPoller,
                                      "dynamodb": DynamoDBStreamsPoller}
    return kinds[mapping["_source"]](mapping, ctx)


class EventSources:
    """One poller task per enabled mapping; owns their start and stop."""

    def __init__(self, settings: Settings, mappings: EventSourceMappings, invoker: Invoker,
                 store: MetadataStore) -> None:
        self.mappings = mappings
        self.ctx = Context(settings, invoker, store, AwsClients(settings, read_timeout=40), Stats())
        self._running: dict[str, tuple[Poller, asyncio.Task[None]]] = {}

    @property
    def stats(self) -> Stats:
        return self.ctx.stats

    def start(self) -> None:
        self.mappings.listeners.append(self.changed)
        for doc in self.mappings.all():
            self.changed(doc["UUID"])

    def changed(self, mapping_id: str) -> None:
        """Bring the poller of one mapping in line with its stored document."""
        self._stop(mapping_id)
        doc = self.mappings.find(mapping_id)
        if doc is None:
            self.ctx.store.delete_prefix(CHECKPOINT, f"{mapping_id}/")
            return
        if not doc.get("_enabled"):
            return
        poller = poller_for(doc, self.ctx)
        task = asyncio.get_running_loop().create_task(self._supervise(poller),
                                                      name=f"esm-{mapping_id}")
        self._running[mapping_id] = (poller, task)

    async def _supervise(self, poller: Poller) -> None:
        delay = 1.0
        while True:
            try:
                await poller.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("poller of mapping %s crashed; restarting", poller.uuid)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    def _stop(self, mapping_id: str) -> None:
        running = self._running.pop(mapping_id, None)
        if running is not None:
            poller, task = running
            poller.stop()
            task.cancel()

    async def close(self) -> None:
        tasks = []
        for mapping_id in list(self._running):
            tasks.append(self._running[mapping_id][1])
            self._stop(mapping_id)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
