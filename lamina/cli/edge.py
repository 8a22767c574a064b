"""`lamina edge`: the Lambda@Edge proxy on its own, invoking functions through a Lamina endpoint.

    lamina edge --config dist.json --endpoint-url http://lamina:9700 --port 9701
    lamina edge --origin http://127.0.0.1:8080 --viewer-request ARN:1 --include-body viewer-request

(`lamina server --edge-config FILE --edge-port P` runs the same proxy inside the server.)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lamina.edge.config import Distribution


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("edge", help="run the Lambda@Edge proxy in front of an origin")
    p.add_argument("--config", help="distribution config (JSON; see lamina/edge/config.py)")
    p.add_argument("--origin", help="custom origin URL (instead of --config)")
    for event_type in ("viewer-request", "origin-request", "origin-response", "viewer-response"):
        p.add_argument(f"--{event_type}", metavar="ARN",
                       help=f"numbered function version for the {event_type} trigger")
    p.add_argument("--include-body", action="append", default=[], metavar="EVENT",
                   choices=["viewer-request", "origin-request"],
                   help="expose the request body to this request trigger (repeatable)")
    p.add_argument("--endpoint-url",
                   default=os.environ.get("LAMINA_ENDPOINT", "http://127.0.0.1:9700"))
    p.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9701)
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from lamina.edge import config

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.config:
            if args.origin:
                raise config.ConfigError("give --config or --origin, not both")
            dist = config.load(args.config)
        elif args.origin:
            triggers = [config.parse_association(t, getattr(args, t.replace("-", "_")),
                                                 t in args.include_body)
                        for t in config.EVENT_TYPES if getattr(args, t.replace("-", "_"))]
            dist = config.build(args.origin, triggers)
        else:
            raise config.ConfigError("give --config FILE or --origin URL")
    except config.ConfigError as err:
        print(f"lamina edge: {err}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(dist, args))
    except KeyboardInterrupt:
        pass
    return 0


async def _serve(dist: Distribution, args: argparse.Namespace) -> None:
    from lamina.edge.invokers import RemoteInvoker
    from lamina.edge.proxy import EdgeProxy

    invoker = RemoteInvoker(args.endpoint_url, args.region,
                            os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                            os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))
    proxy = EdgeProxy(dist, invoker)
    await proxy.start(args.host, args.port)
    try:
        print(f"Lamina edge proxy at {proxy.url} -> origin {dist.origin.protocol}://"
              f"{dist.origin.domain_name}:{dist.origin.port}{dist.origin.path}, functions from "
              f"{args.endpoint_url}", flush=True)
        for problem in await proxy.check_all():
            print(f"  warning: {problem}", file=sys.stderr, flush=True)
        await asyncio.Event().wait()
    finally:
        await proxy.close()
