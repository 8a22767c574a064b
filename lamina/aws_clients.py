"""boto3 clients for the AWS-compatible services Lamina talks to (S3, SQS, SNS,
Kinesis, DynamoDB Streams, EventBridge): one per (service, region), on the
endpoint configured for that service (`--aws-endpoint-url` and its overrides).

Credentials come from boto3's usual chain, else the server's own first key pair
(which local emulators such as moto accept). Clients are thread-safe once built;
building them is not, hence the lock. Every call is blocking: callers run them
off the event loop.
"""

from __future__ import annotations

import threading
from typing import Any

from lamina.arns import parse_resource_arn
from lamina.settings import Settings


class AwsClients:
    def __init__(self, settings: Settings, *, read_timeout: float = 15,
                 max_attempts: int = 3) -> None:
        self.settings = settings
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        self._clients: dict[tuple[str, str], Any] = {}
        self._queue_urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.settings.region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = self._build(service, key[1])
        return client

    def _build(self, service: str, region: str) -> Any:
        import boto3  # deferred: boto3 takes ~0.3 s to import and most servers never need it
        from botocore.config import Config

        session = boto3.session.Session()
        creds: dict[str, str] = {}
        fallback = next(iter(self.settings.credentials.items()), None)
        if session.get_credentials() is None and fallback is not None:
            creds = {"aws_access_key_id": fallback[0], "aws_secret_access_key": fallback[1]}
        endpoint = self.settings.endpoint_for(service)
        config = Config(retries={"total_max_attempts": self.max_attempts, "mode": "standard"},
                        connect_timeout=5, read_timeout=self.read_timeout, max_pool_connections=50,
                        # Emulators are addressed by host:port, not by bucket DNS names.
                        s3={"addressing_style": "path"} if service == "s3" and endpoint else None)
        return session.client(service, region_name=region, endpoint_url=endpoint, config=config,
                              **creds)

    def queue_url(self, arn: str) -> str:
        """The URL of the SQS queue an ARN names (looked up once)."""
        url = self._queue_urls.get(arn)
        if url is None:
            parts = parse_resource_arn(arn) or {}
            kwargs = {"QueueName": parts.get("resource", "")}
            if parts.get("account"):
                kwargs["QueueOwnerAWSAccountId"] = parts["account"]
            url = str(self.get("sqs", parts.get("region"))
                      .get_queue_url(**kwargs)["QueueUrl"])
            self._queue_urls[arn] = url
        return url
