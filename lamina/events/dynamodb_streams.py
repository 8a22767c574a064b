"""DynamoDB Streams poller.

Shards come from DescribeStream (paged by ExclusiveStartShardId); records are
passed on as AWS delivers them (`eventName` INSERT / MODIFY / REMOVE, DynamoDB
JSON images). `AT_TIMESTAMP` is refused at create time, as on AWS.

`LATEST` means "records written after the mapping was created". DynamoDB
Streams cannot start at a time, and a LATEST iterator taken when the poller
starts would skip what was written in between, so a shard without a checkpoint
is read from TRIM_HORIZON and records older than the mapping (to the second,
the resolution of ApproximateCreationDateTime) are passed over.
"""

from __future__ import annotations

import json
from typing import Any

from lamina.events import shapes
from lamina.events.base import blocking
from lamina.events.streams import Record, Shard, StreamPoller, shard_iterator


class DynamoDBStreamsPoller(StreamPoller):
    poll_interval_s = 0.25       # AWS reads DynamoDB shards about four times a second
    read_limit = 1000            # GetRecords' maximum here
    batch_info_key = "DDBStreamBatchInfo"

    @property
    def _client(self) -> Any:
        return self.ctx.aws.get("dynamodbstreams", self.region)

    async def shards(self) -> list[Shard]:
        def list_all() -> list[Shard]:
            out: list[Shard] = []
            kwargs: dict[str, Any] = {"StreamArn": self.arn}
            while True:
                description = self._client.describe_stream(**kwargs)["StreamDescription"]
                out += [Shard(s["ShardId"], s.get("ParentShardId"))
                        for s in description.get("Shards") or []]
                last = description.get("LastEvaluatedShardId")
                if not last:
                    return out
                kwargs["ExclusiveStartShardId"] = last
        return await blocking(list_all)

    async def iterator(self, shard: str, kind: str, seq: str | None,
                       at: float | None) -> str | None:
        if kind == "LATEST" and self.mapping.get("_created"):
            kind = "TRIM_HORIZON"
        kwargs: dict[str, Any] = {"StreamArn": self.arn, "ShardId": shard,
                                  "ShardIteratorType": kind}
        if seq is not None:
            kwargs["SequenceNumber"] = seq
        return await shard_iterator(self._client, **kwargs)

    async def read(self, shard: str, iterator: str,
                   limit: int) -> tuple[list[Record], str | None]:
        answer = await blocking(self._client.get_records, ShardIterator=iterator, Limit=limit)
        records = []
        since = 0
        if self.mapping.get("StartingPosition") == "LATEST":
            since = int(self.mapping.get("_created") or 0)
        for raw in answer.get("Records") or []:
            event = shapes.dynamodb_record(raw, self.arn, self.region)
            change = event["dynamodb"]
            if int(change.get("ApproximateCreationDateTime") or since) < since:
                continue
            records.append(Record(seq=str(change.get("SequenceNumber", "")),
                                  arrival=float(change.get("ApproximateCreationDateTime") or 0),
                                  event=event, view=event,
                                  size=len(json.dumps(event)) + 50,
                                  key=json.dumps(change.get("Keys"), sort_keys=True)))
        return records, answer.get("NextShardIterator")
