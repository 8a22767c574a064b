"""How the edge proxy calls functions: in the server's process, or through a Lamina endpoint.

Both answer the same two questions: what is this version's configuration (for CloudFront's
association checks) and what did an invocation return. Failures are reported as an `Outcome`
kind rather than raised, because each maps to one CloudFront answer (see proxy.py).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from lamina.edge.config import Association

log = logging.getLogger("lamina.edge")

OK = "ok"
FUNCTION_ERROR = "function-error"     # the function failed (unhandled error, timeout, init)
THROTTLED = "throttled"               # concurrency or rate limit
UNAVAILABLE = "unavailable"           # the version does not exist, or the call itself failed


@dataclass
class Outcome:
    kind: str
    payload: bytes = b""
    detail: str = ""


class EdgeInvoker(Protocol):
    region: str

    async def configuration(self, assoc: Association) -> dict[str, Any] | None:
        """The version's configuration, or None if it does not exist (yet)."""

    async def invoke(self, assoc: Association, payload: bytes) -> Outcome:
        """Invoke the version synchronously (RequestResponse)."""

    async def close(self) -> None: ...


class LocalInvoker:
    """Calls the server's own `Invoker` (lamina.invoke.service) on the same event loop."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self.region = services.arns.region

    def _ours(self, assoc: Association) -> bool:
        from lamina.arns import FunctionRef
        return FunctionRef.parse(assoc.arn).account in (None, self.services.arns.account)

    async def configuration(self, assoc: Association) -> dict[str, Any] | None:
        if not self._ours(assoc):
            return None
        doc = self.services.functions.resolve.version(assoc.name, assoc.version)
        return dict(doc) if doc is not None else None

    async def invoke(self, assoc: Association, payload: bytes) -> Outcome:
        from lamina.errors import LaminaError
        from lamina.invoke.service import InvokeRequest

        req = InvokeRequest(function_name=assoc.name, qualifier=assoc.version, payload=payload)
        try:
            result = await self.services.invoker.invoke(req)
        except LaminaError as err:
            kind = THROTTLED if err.status == 429 else UNAVAILABLE
            return Outcome(kind, detail=f"{err.code}: {err.message}")
        if result.function_error:
            return Outcome(FUNCTION_ERROR, result.payload, result.payload.decode(errors="replace"))
        return Outcome(OK, result.payload)

    async def close(self) -> None:
        pass


class RemoteInvoker:
    """Calls a Lamina (or AWS) endpoint with boto3; each blocking call runs in a worker thread."""

    def __init__(self, endpoint_url: str | None, region: str, access_key: str,
                 secret_key: str) -> None:
        import boto3
        from botocore.config import Config

        self.region = region
        # One attempt: CloudFront does not retry a failed function, and the slowest allowed
        # function (30 s) must fit in the read timeout.
        self.client = boto3.client(
            "lambda", endpoint_url=endpoint_url, region_name=region, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(retries={"total_max_attempts": 1}, read_timeout=60, connect_timeout=5,
                          max_pool_connections=64))

    async def configuration(self, assoc: Association) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        def call() -> dict[str, Any] | None:
            try:
                return dict(self.client.get_function_configuration(FunctionName=assoc.arn))
            except self.client.exceptions.ResourceNotFoundException:
                return None
            except (BotoCoreError, ClientError) as exc:
                log.warning("cannot read the configuration of %s: %s", assoc.arn, exc)
                return None
        return await asyncio.to_thread(call)

    async def invoke(self, assoc: Association, payload: bytes) -> Outcome:
        from botocore.exceptions import BotoCoreError, ClientError

        def call() -> Outcome:
            try:
                resp = self.client.invoke(FunctionName=assoc.arn, Payload=payload)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                kind = THROTTLED if code == "TooManyRequestsException" else UNAVAILABLE
                return Outcome(kind, detail=str(exc))
            except BotoCoreError as exc:
                return Outcome(UNAVAILABLE, detail=str(exc))
            body = resp["Payload"].read()
            if resp.get("FunctionError"):
                return Outcome(FUNCTION_ERROR, body, body.decode(errors="replace"))
            return Outcome(OK, body)
        return await asyncio.to_thread(call)

    async def close(self) -> None:
        self.client.close()
