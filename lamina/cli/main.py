"""The `lamina` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path


def _server(args: argparse.Namespace) -> int:
    from lamina.edge.config import ConfigError
    from lamina.server import serve
    from lamina.settings import Settings

    settings = Settings.from_env(host=args.host, port=args.port, data_dir=Path(args.data_dir),
                                 account_id=args.account_id, region=args.region,
                                 sandbox=args.sandbox, aws_endpoint_url=args.aws_endpoint_url,
                                 keep_alive_s=args.keep_alive, prewarm=args.prewarm,
                                 account_concurrency=args.account_concurrency,
                                 scaling_per_10s=args.scaling_per_10s,
                                 scaling_mode=args.scaling_mode,
                                 metadata_url=args.metadata_url, blob_url=args.blob_url)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    edge_config = Path(args.edge_config) if getattr(args, "edge_config", None) else None
    try:
        asyncio.run(serve(settings, edge_config=edge_config, edge_port=args.edge_port))
    except KeyboardInterrupt:
        pass
    except ConfigError as err:       # a bad --edge-config
        print(f"lamina server: {err}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lamina", description="Run AWS Lambda functions locally.")
    sub = parser.add_subparsers(dest="command", required=True)

    server = sub.add_parser("server", help="start the Lambda API server")
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=9700)
    server.add_argument("--data-dir", default=".lamina")
    server.add_argument("--account-id", default=None)
    server.add_argument("--region", default=None)
    server.add_argument("--sandbox", default=None, choices=["auto", "bwrap", "process"])
    server.add_argument("--aws-endpoint-url", default=None,
                        help="AWS-compatible endpoint for S3, SQS, SNS, Kinesis, DynamoDB Streams, "
                             "EventBridge (env LAMINA_AWS_ENDPOINT_URL)")
    server.add_argument("--keep-alive", type=float, default=None,
                        help="seconds an idle environment is kept warm (default 300)")
    server.add_argument("--prewarm", type=int, default=None, metavar="N",
                        help="pre-warmed Python runtimes kept per recently used Python runtime "
                             "id, for faster cold starts (default 2, 0 turns it off; env LAMINA_PREWARM)")
    server.add_argument("--account-concurrency", type=int, default=None,
                        help="account concurrency limit (default 1000; env LAMINA_ACCOUNT_CONCURRENCY)")
    server.add_argument("--scaling-per-10s", type=int, default=None,
                        help="new environments a function may add per 10 s (default 1000)")
    server.add_argument("--scaling-mode", default=None, choices=["function", "legacy-burst"],
                        help="per-function scaling (default) or the legacy account-wide burst")
    server.add_argument("--metadata-url", default=None,
                        help="metadata and async event store: auto (SQLite in the data dir) or "
                             "postgresql://user@host/db, shared by replicas (env LAMINA_METADATA_URL)")
    server.add_argument("--blob-url", default=None,
                        help="code and layer storage: auto (files in the data dir) or "
                             "s3://bucket/prefix on the S3 endpoint (env LAMINA_BLOB_URL)")
    server.add_argument("--edge-config", default=None, metavar="FILE",
                        help="also run the Lambda@Edge proxy for this distribution config (JSON)")
    server.add_argument("--edge-port", type=int, default=9701, help="port of the edge proxy")
    server.add_argument("-v", "--verbose", action="store_true")
    server.set_defaults(run=_server)

    from lamina.cli import logs as logs_cmd
    logs_cmd.register(sub)
    from lamina.cli import edge as edge_cmd
    edge_cmd.register(sub)
    from lamina.cli import deploy as deploy_cmd
    deploy_cmd.register(sub)

    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
