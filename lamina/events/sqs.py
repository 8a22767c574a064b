"""SQS poller: long-poll, filter, batch, invoke, delete.

Contract (spec §7.1):
- A batch is sent when `BatchSize` messages are in hand, when the batching
  window (counted from the first message) expires, or at once with a zero
  window; a batch over 6 MB is split into several invocations.
- Success deletes the batch. A failed invocation (function error, throttle,
  missing function) deletes nothing: the messages reappear after the queue's
  visibility timeout, and the source queue's redrive policy applies. Only when
  nothing ran (the function is missing or still Pending) are they released at once.
- With `ReportBatchItemFailures`, only the reported `itemIdentifier`s stay; a
  malformed response (not JSON, an empty or unknown id, a wrong key) fails the
  whole batch. On a FIFO queue every later message of a failed message's group
  stays too, so a group is never reordered.
- Messages no filter matches are deleted without invoking, as on AWS.
- Several workers poll each queue (`ScalingConfig.MaximumConcurrency`, at most
  `WORKERS`); FIFO order per group holds because SQS hands out a group's next
  messages only once the earlier ones are deleted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from lamina.arns import parse_resource_arn
from lamina.events import shapes
from lamina.events.base import Outcome, Poller, blocking
from lamina.events.filters import compile_filters, matches_any

log = logging.getLogger("lamina.events.sqs")

WORKERS = 5            # AWS starts standard queues at 5 concurrent batches
LONG_POLL_S = 20
PAYLOAD_LIMIT = 6 * 1024 * 1024 - 64 * 1024


class SqsPoller(Poller):
    async def run(self) -> None:
        self.patterns = compile_filters(self.mapping.get("FilterCriteria"))
        self.fifo = self.arn.endswith(".fifo")
        self.sqs = self.ctx.aws.get("sqs", self.region)
        self.url = await self._queue_url()
        limit = (self.mapping.get("ScalingConfig") or {}).get("MaximumConcurrency") or WORKERS
        await asyncio.gather(*(self._worker() for _ in range(min(limit, WORKERS))))

    async def _queue_url(self) -> str:
        parts = parse_resource_arn(self.arn) or {}
        kwargs = {"QueueName": parts.get("resource", "")}
        if parts.get("account"):
            kwargs["QueueOwnerAWSAccountId"] = parts["account"]
        delay = 1.0
        while True:
            try:
                answer = await blocking(self.sqs.get_queue_url, **kwargs)
                return str(answer["QueueUrl"])
            except Exception as exc:
                log.warning("mapping %s: queue %s not reachable: %s", self.uuid, self.arn, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _worker(self) -> None:
        delay = 1.0
        while True:
            try:
                messages = await self._collect()
            except Exception as exc:
                log.warning("mapping %s: ReceiveMessage failed: %s", self.uuid, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = 1.0
            if messages:
                await self._process(messages)

    # -- reading ----------------------------------------------------------------------------

    async def _collect(self) -> list[dict[str, Any]]:
        batch_size = int(self.mapping.get("BatchSize") or 10)
        window = float(self.mapping.get("MaximumBatchingWindowInSeconds") or 0)
        messages: list[dict[str, Any]] = []
        deadline: float | None = None
        while len(messages) < batch_size:
            wait = LONG_POLL_S
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = max(1, min(LONG_POLL_S, int(remaining)))
            got = await blocking(self._receive, min(10, batch_size - len(messages)), wait)
            if got:
                messages += got
                if window == 0:
                    break
                if deadline is None:
                    deadline = time.monotonic() + window
            elif deadline is None and not messages:
                return []
        return messages

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=count, WaitTimeSeconds=wait,
            AttributeNames=["All"], MessageAttributeNames=["All"])
        messages = list(answer.get("Messages") or [])
        if self.stopped and messages:
            # The mapping went away while we waited: give the messages straight back.
            self._release(messages)
            return []
        return messages

    def _release(self, messages: list[dict[str, Any]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                   for i, m in enumerate(messages)]
        for chunk in _chunks(entries, 10):
            try:
                self.sqs.change_message_visibility_batch(QueueUrl=self.url, Entries=chunk)
            except Exception as exc:
                log.info("mapping %s: releasing messages failed: %s", self.uuid, exc)

    # -- processing -------------------------------------------------------------------------

    async def _process(self, messages: list[dict[str, Any]]) -> None:
        records = [shapes.sqs_record(m, self.arn, self.region) for m in messages]
        kept: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        for record in records:
            wanted = matches_any(self.patterns, shapes.sqs_filter_view(record))
            (kept if wanted else dropped).append(record)
        if dropped:
            await blocking(self._delete, dropped)
        for batch in _fitting(kept):
            await self._run(batch)

    async def _run(self, kept: list[dict[str, Any]]) -> None:
        outcome = await self.invoke({"Records": kept})
        if not outcome.ok:
            if not outcome.function_failed:
                if not outcome.throttled:
                    # The function is missing or not Active yet: nothing ran, so the
                    # messages go back at once rather than after the visibility timeout.
                    await blocking(self._release, [{"ReceiptHandle": r["receiptHandle"]}
                                                   for r in kept])
                await asyncio.sleep(1.0)    # ease off this worker
            return
        failed = self._failed_ids(outcome, kept)
        if failed is None:
            return
        done = [r for r in kept if r["messageId"] not in failed]
        if done:
            await blocking(self._delete, done)

    def _failed_ids(self, outcome: Outcome, records: list[dict[str, Any]]) -> set[str] | None:
        """Ids to keep in the queue, or None when the whole batch failed."""
        if not self.reports_item_failures:
            return set()
        try:
            result = outcome.result()
        except ValueError:
            return None
        if not isinstance(result, dict):
            return set()
        items = result.get("batchItemFailures")
        if not items:
            return set()
        if not isinstance(items, list):
            return None
        ids = {r["messageId"] for r in records}
        failed: set[str] = set()
        for item in items:
            ident = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not ident or ident not in ids:
                return None
            failed.add(ident)
        if self.fifo:
            blocked: set[str] = set()
            for r in records:
                group = r["attributes"].get("MessageGroupId")
                if r["messageId"] in failed or group in blocked:
                    failed.add(r["messageId"])
                    blocked.add(group)
        return failed

    def _delete(self, records: list[dict[str, Any]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                   for i, r in enumerate(records)]
        for chunk in _chunks(entries, 10):
            answer = self.sqs.delete_message_batch(QueueUrl=self.url, Entries=chunk)
            if answer.get("Failed"):
                log.warning("mapping %s: DeleteMessageBatch failed for %s", self.uuid,
                            answer["Failed"])


def _fitting(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split a batch so that each invocation stays under the 6 MB payload limit."""
    out: list[list[dict[str, Any]]] = []
    size = 0
    for record in records:
        weight = len(json.dumps(record))
        if not out or size + weight > PAYLOAD_LIMIT:
            out.append([])
            size = 0
        out[-1].append(record)
        size += weight
    return out


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
