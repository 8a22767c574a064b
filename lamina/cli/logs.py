"""`lamina logs NAME`: print a function's log (all streams, oldest first)."""

from __future__ import annotations

import argparse
import os
import time


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("logs", help="print a function's log lines")
    p.add_argument("name", help="function name")
    p.add_argument("--endpoint-url", default=os.environ.get("LAMINA_ENDPOINT", "http://127.0.0.1:9700"))
    p.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    p.add_argument("--since", type=float, default=None, help="only the last N seconds")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import boto3

    client = boto3.client("logs", endpoint_url=args.endpoint_url, region_name=args.region,
                          aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                          aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))
    start = int((time.time() - args.since) * 1000) if args.since else 0
    group = f"/aws/lambda/{args.name}"
    seen: set[str] = set()
    while True:
        try:
            events = client.filter_log_events(logGroupName=group, startTime=start)["events"]
        except client.exceptions.ResourceNotFoundException:
            events = []
        for event in events:
            if event["eventId"] not in seen:
                seen.add(event["eventId"])
                print(event["message"], flush=True)
        if not args.follow:
            return 0
        time.sleep(1)
