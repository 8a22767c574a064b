"""Kinesis Data Streams poller (shared-throughput GetRecords, not enhanced fan-out).

`LATEST` means "records added after the mapping was created": until a shard has
a checkpoint, Lamina reads it `AT_TIMESTAMP` the mapping's creation time, so
records put right after CreateEventSourceMapping returns are not skipped while
the poller is still starting (AWS's own pollers take a moment too).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lamina.events import shapes
from lamina.events.base import blocking
from lamina.events.streams import Record, Shard, StreamPoller, shard_iterator


class KinesisPoller(StreamPoller):
    poll_interval_s = 1.0        # AWS reads each shard about once per second
    read_limit = 10000
    batch_info_key = "KinesisBatchInfo"

    @property
    def _client(self) -> Any:
        return self.ctx.aws.get("kinesis", self.region)

    @property
    def _stream(self) -> dict[str, str]:
        # StreamName works with every Kinesis-compatible server; StreamARN is newer.
        return {"StreamName": self.arn.split(":", 5)[5].split("/", 1)[1]}

    async def shards(self) -> list[Shard]:
        def list_all() -> list[Shard]:
            out: list[Shard] = []
            kwargs: dict[str, Any] = dict(self._stream)
            while True:
                answer = self._client.list_shards(**kwargs)
                out += [Shard(s["ShardId"], s.get("ParentShardId")) for s in answer["Shards"]]
                token = answer.get("NextToken")
                if not token:
                    return out
                kwargs = {"NextToken": token}
        return await blocking(list_all)

    async def iterator(self, shard: str, kind: str, seq: str | None,
                       at: float | None) -> str | None:
        kwargs: dict[str, Any] = {**self._stream, "ShardId": shard, "ShardIteratorType": kind}
        if seq is not None:
            kwargs["StartingSequenceNumber"] = seq
        if kind == "LATEST" and self.mapping.get("_created"):
            kwargs["ShardIteratorType"] = "AT_TIMESTAMP"
            at = float(self.mapping["_created"])
        if kwargs["ShardIteratorType"] == "AT_TIMESTAMP":
            kwargs["Timestamp"] = dt.datetime.fromtimestamp(float(at or 0), dt.UTC)
        return await shard_iterator(self._client, **kwargs)

    async def read(self, shard: str, iterator: str,
                   limit: int) -> tuple[list[Record], str | None]:
        answer = await blocking(self._client.get_records, ShardIterator=iterator, Limit=limit)
        records = []
        for raw in answer.get("Records") or []:
            event = shapes.kinesis_record(raw, shard, self.arn, self.region, self.role)
            records.append(Record(seq=raw["SequenceNumber"],
                                  arrival=shapes.epoch(raw.get("ApproximateArrivalTimestamp")),
                                  event=event, view=shapes.kinesis_filter_view(event),
                                  size=len(raw.get("Data") or b"") * 4 // 3 + 400,
                                  key=raw.get("PartitionKey", "")))
        return records, answer.get("NextShardIterator")
