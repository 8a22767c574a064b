"""What Kinesis and DynamoDB Streams pollers share: shards, checkpoints, retries.

Contract (spec §7.2):
- One reader per shard; a child shard starts once its parent is read to the end.
- Position: the stored checkpoint (the last sequence number handled, kept in
  the metadata store so restarts resume), else `StartingPosition`.
- A batch is sent at `BatchSize` records, when the batching window expires
  (zero: as soon as a read returns records), or near the 6 MB payload limit.
- A failing batch blocks its shard and is retried with back-off until it
  succeeds, its records pass `MaximumRecordAgeInSeconds`, or it has been retried
  `MaximumRetryAttempts` times (-1: forever). Throttles and platform errors are
  retried without counting. `BisectBatchOnFunctionError` splits a failing batch
  in two (splits are not retries). With `ReportBatchItemFailures`, the shard
  checkpoints before the lowest failed sequence number and retries from there.
- A discarded batch goes to `DestinationConfig.OnFailure` (SQS, SNS, S3) as
  AWS's record with `KinesisBatchInfo` / `DDBStreamBatchInfo`, without the
  records; then the shard moves on.
- `ParallelizationFactor` N > 1 splits each batch into up to N lanes by a hash
  of the partition key (order kept per key), invoked concurrently; the shard
  checkpoints once every lane is done.
- `IteratorAge` (arrival of a batch's last record → invocation) is sampled per batch;
  `LastProcessingResult` is stored when it changes (OK / PROBLEM: …).
"""

from __future__ import annotations

import abc
import asyncio
import datetime as dt
import json
import logging
import time
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

from lamina.arns import parse_resource_arn
from lamina.control.esm import EVENT_SOURCE_MAPPING
from lamina.events import shapes
from lamina.events.base import CHECKPOINT, Outcome, Poller, blocking
from lamina.events.filters import compile_filters, matches_any
from lamina.invoke.destinations import AgeStats

log = logging.getLogger("lamina.events.streams")

PAYLOAD_LIMIT = 6 * 1024 * 1024 - 64 * 1024
RESCAN_S = 30.0


@dataclass
class Shard:
    id: str
    parent: str | None


@dataclass
class Record:
    seq: str
    arrival: float          # epoch seconds the record reached the stream
    event: dict[str, Any]   # as the function receives it
    view: dict[str, Any]    # what filters see
    size: int
    key: str = ""           # partition key: order is kept per key


async def shard_iterator(client: Any, **kwargs: Any) -> str | None:
    """GetShardIterator (Kinesis and DynamoDB Streams take the same call)."""
    answer = await blocking(client.get_shard_iterator, **kwargs)
    iterator = answer.get("ShardIterator")
    return str(iterator) if iterator is not None else None


class StreamPoller(Poller):
    """Template for one stream: subclasses list shards, open iterators and read."""

    poll_interval_s = 1.0
    read_limit = 10000
    batch_info_key = "KinesisBatchInfo"

    @abc.abstractmethod
    async def shards(self) -> list[Shard]: ...

    @abc.abstractmethod
    async def iterator(self, shard: str, kind: str, seq: str | None,
                       at: float | None) -> str | None: ...

    @abc.abstractmethod
    async def read(self, shard: str, iterator: str,
                   limit: int) -> tuple[list[Record], str | None]:
        """Records and the next iterator (None once a closed shard is read to the end)."""

    # -- shards -----------------------------------------------------------------------------

    async def run(self) -> None:
        self.patterns = compile_filters(self.mapping.get("FilterCriteria"))
        self.role = self._role()
        readers: dict[str, asyncio.Task[None]] = {}
        delay = 1.0
        try:
            while True:
                try:
                    shards = await self.shards()
                    delay = 1.0
                except Exception as exc:
                    log.warning("mapping %s: listing shards of %s failed: %s", self.uuid,
                                self.arn, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                for shard in shards:
                    if shard.id not in readers:
                        parent = readers.get(shard.parent) if shard.parent else None
                        readers[shard.id] = asyncio.create_task(self._shard(shard, parent))
                await asyncio.sleep(RESCAN_S)
        finally:
            for task in readers.values():
                task.cancel()

    def _role(self) -> str | None:
        try:
            target = self.ctx.invoker.target(self.mapping["FunctionArn"], None)
            config = self.ctx.invoker.functions.resolve.version(target.name, target.version)
            return (config or {}).get("Role")
        except Exception:
            return None

    async def _shard(self, shard: Shard, parent: asyncio.Task[None] | None) -> None:
        if parent is not None:
            await asyncio.gather(parent, return_exceptions=True)
        reader = _ShardReader(self, shard.id)
        await reader.run()

    def note_result(self, ok: bool) -> None:
        """Keep the mapping's LastProcessingResult (written only when it changes)."""
        result = "OK" if ok else "PROBLEM: Function call failed"
        if result == getattr(self, "_last_result", self.mapping.get("LastProcessingResult")):
            return
        self._last_result = result
        store = self.ctx.store
        with store.transaction():
            doc = store.get(EVENT_SOURCE_MAPPING, self.uuid)
            if doc is not None:
                doc["LastProcessingResult"] = result
                store.put(EVENT_SOURCE_MAPPING, self.uuid, doc)

    # -- checkpoints ------------------------------------------------------------------------

    def checkpoint(self, shard: str) -> str | None:
        doc = self.ctx.store.get(CHECKPOINT, f"{self.uuid}/{shard}")
        return None if doc is None else doc.get("seq")

    def save_checkpoint(self, shard: str, seq: str) -> None:
        self.ctx.store.put(CHECKPOINT, f"{self.uuid}/{shard}", {"seq": seq})

    async def open(self, shard: str) -> str | None:
        seq = self.checkpoint(shard)
        if seq is not None:
            return await self.iterator(shard, "AFTER_SEQUENCE_NUMBER", seq, None)
        position = self.mapping.get("StartingPosition", "LATEST")
        at = self.mapping.get("StartingPositionTimestamp")
        return await self.iterator(shard, position, None, at)

    # -- failure records --------------------------------------------------------------------

    async def on_failure(self, shard: str, batch: list[Record], condition: str, invokes: int,
                         outcome: Outcome | None) -> None:
        target = ((self.mapping.get("DestinationConfig") or {}).get("OnFailure") or {}) \
            .get("Destination")
        if not target:
            log.info("mapping %s: dropping %d records of %s (%s)", self.uuid, len(batch),
                     shard, condition)
            return
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": None}
        if outcome is not None and outcome.response is not None:
            response = {"statusCode": outcome.response.status,
                        "executedVersion": outcome.response.executed_version}
            if outcome.response.function_error:
                response["functionError"] = outcome.response.function_error
        elif outcome is not None and outcome.error is not None:
            response["statusCode"] = outcome.error.status
        record = {
            "requestContext": {"requestId": str(uuid.uuid4()),
                               "functionArn": self.mapping["FunctionArn"],
                               "condition": condition, "approximateInvokeCount": invokes},
            "responseContext": response,
            "version": "1.0",
            "timestamp": shapes.iso_ms(time.time()),
            self.batch_info_key: {
                "shardId": shard,
                "startSequenceNumber": batch[0].seq,
                "endSequenceNumber": batch[-1].seq,
                "approximateArrivalOfFirstRecord": shapes.iso_ms(batch[0].arrival),
                "approximateArrivalOfLastRecord": shapes.iso_ms(batch[-1].arrival),
                "batchSize": len(batch),
                "streamArn": self.arn,
            },
        }
        try:
            await blocking(self._send, target, json.dumps(record))
            self.ctx.stats.on_failure_sent[self.function] += 1
        except Exception as exc:
            self.ctx.stats.on_failure_errors[self.function] += 1
            log.warning("mapping %s: on-failure delivery to %s failed: %s", self.uuid, target, exc)

    def _send(self, target: str, body: str) -> None:
        parts = parse_resource_arn(target) or {}
        region = parts.get("region") or None
        service = parts.get("service")
        if service == "sqs":
            sqs = self.ctx.aws.get("sqs", region)
            kwargs = {"QueueName": parts.get("resource", "")}
            if parts.get("account"):
                kwargs["QueueOwnerAWSAccountId"] = parts["account"]
            url = sqs.get_queue_url(**kwargs)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body)
        elif service == "sns":
            self.ctx.aws.get("sns", region).publish(TopicArn=target, Message=body)
        elif service == "s3":
            now = dt.datetime.now(dt.UTC)
            key = f"aws/lambda/{self.uuid}/{now:%Y/%m/%d/%H}/{now:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"
            self.ctx.aws.get("s3", region).put_object(
                Bucket=parts.get("resource", "").split("/", 1)[0], Key=key,
                Body=body.encode(), ContentType="application/json")
        else:
            raise ValueError(f"unsupported destination {target}")


class _ShardReader:
    """Reads one shard in order; one batch in flight at a time."""

    def __init__(self, poller: StreamPoller, shard: str) -> None:
        self.p = poller
        self.shard = shard
        self.iterator: str | None = None
        self.buffer: list[Record] = []
        self.closed = False

    async def run(self) -> None:
        delay = 1.0
        while not self.closed or self.buffer:
            try:
                batch = await self._next_batch()
                delay = 1.0
            except Exception as exc:
                log.warning("mapping %s: reading %s failed: %s", self.p.uuid, self.shard, exc)
                self.iterator, self.buffer = None, []    # reopen from the checkpoint
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            if batch:
                await self._handle(batch)

    async def _next_batch(self) -> list[Record]:
        mapping = self.p.mapping
        batch_size = int(mapping.get("BatchSize") or 100)
        window = float(mapping.get("MaximumBatchingWindowInSeconds") or 0)
        deadline: float | None = time.monotonic() + window if self.buffer else None
        while len(self.buffer) < batch_size and _size(self.buffer) < PAYLOAD_LIMIT:
            if self.buffer and (window == 0 or time.monotonic() >= (deadline or 0)):
                break
            if self.closed:
                break
            if self.iterator is None:
                self.iterator = await self.p.open(self.shard)
                if self.iterator is None:
                    self.closed = True
                    break
            limit = min(self.p.read_limit, batch_size - len(self.buffer))
            records, self.iterator = await self.p.read(self.shard, self.iterator, limit)
            if self.iterator is None:
                self.closed = True
            if records:
                self.buffer += records
                if deadline is None:
                    deadline = time.monotonic() + window
                continue
            if self.buffer and window == 0:
                break
            pause = self.p.poll_interval_s
            if deadline is not None:
                pause = max(0.0, min(pause, deadline - time.monotonic()))
            if not self.closed:
                await asyncio.sleep(pause)
        take = 0
        total = 0
        for record in self.buffer[:batch_size]:
            if take and total + record.size > PAYLOAD_LIMIT:
                break
            take += 1
            total += record.size
        batch, self.buffer = self.buffer[:take], self.buffer[take:]
        return batch

    async def _handle(self, batch: list[Record]) -> None:
        kept = [r for r in batch if matches_any(self.p.patterns, r.view)]
        factor = int(self.p.mapping.get("ParallelizationFactor") or 1)
        lanes: dict[int, list[Record]] = {}
        for record in kept:
            lane = zlib.crc32(record.key.encode()) % factor if factor > 1 else 0
            lanes.setdefault(lane, []).append(record)
        if len(lanes) == 1:
            await self._deliver(kept, invokes=0)
        elif lanes:
            # Lanes end at different points: only the whole batch is checkpointed.
            await asyncio.gather(*(self._deliver(lane, 0, checkpoints=False)
                                   for lane in lanes.values()))
        self.p.save_checkpoint(self.shard, batch[-1].seq)

    async def _deliver(self, batch: list[Record], invokes: int, checkpoints: bool = True) -> None:
        """Invoke until the batch succeeds or is discarded; `invokes` so far."""
        mapping = self.p.mapping
        max_retries = int(mapping.get("MaximumRetryAttempts", -1))
        max_age = int(mapping.get("MaximumRecordAgeInSeconds", -1))
        retries = 0
        backoff = 0.5
        while True:
            if max_age != -1:
                fresh = [r for r in batch if time.time() - r.arrival <= max_age]
                if len(fresh) < len(batch):
                    expired = [r for r in batch if r not in fresh]
                    await self.p.on_failure(self.shard, expired, "RecordAgeExceeded", invokes, None)
                    batch = fresh
                if not batch:
                    return
            self._sample_age(batch)
            outcome = await self.p.invoke({"Records": [r.event for r in batch]})
            invokes += 1
            if outcome.response is not None:
                self.p.note_result(outcome.ok)
            if outcome.ok:
                failed_at = self._first_failure(outcome, batch)
                if failed_at is None:
                    return
                if failed_at > 0:
                    if checkpoints:
                        self.p.save_checkpoint(self.shard, batch[failed_at - 1].seq)
                    batch = batch[failed_at:]
            elif not outcome.function_failed:
                await asyncio.sleep(backoff)          # throttle or platform error: not a retry
                backoff = min(backoff * 2, 30.0)
                continue
            elif mapping.get("BisectBatchOnFunctionError") and len(batch) > 1:
                half = len(batch) // 2
                await self._deliver(batch[:half], invokes, checkpoints)
                if checkpoints:
                    self.p.save_checkpoint(self.shard, batch[half - 1].seq)
                await self._deliver(batch[half:], invokes, checkpoints)
                return
            retries += 1
            if max_retries != -1 and retries > max_retries:
                await self.p.on_failure(self.shard, batch, "RetryAttemptsExhausted", invokes,
                                        outcome)
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

    def _first_failure(self, outcome: Outcome, batch: list[Record]) -> int | None:
        """Index of the first record to retry (0: all), None when all succeeded."""
        if not self.p.reports_item_failures:
            return None
        try:
            result = outcome.result()
        except ValueError:
            return 0
        if not isinstance(result, dict) or not result.get("batchItemFailures"):
            return None
        items = result["batchItemFailures"]
        if not isinstance(items, list):
            return 0
        index = {r.seq: i for i, r in enumerate(batch)}
        positions = []
        for item in items:
            ident = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not ident or ident not in index:
                return 0
            positions.append(index[ident])
        return min(positions)

    def _sample_age(self, batch: list[Record]) -> None:
        age_ms = max(0.0, (time.time() - batch[-1].arrival) * 1000)
        stats = self.p.ctx.stats
        stats.iterator_age.setdefault(self.p.function, AgeStats()).add(age_ms)
        stats.last_iterator_age_ms[self.p.uuid] = age_ms


def _size(records: list[Record]) -> int:
    return sum(r.size for r in records)
