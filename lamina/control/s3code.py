"""Deployment packages and layer content from S3 (`S3Bucket`/`S3Key`/`S3ObjectVersion`).

Objects are read from the configured S3-compatible endpoint
(`Settings.endpoint_for("s3")`: `--aws-endpoint-url` / LAMINA_AWS_ENDPOINT_URL, or
an S3-specific override); without one, from AWS's own S3 endpoint for the
server's region. Credentials come from boto3's usual chain (environment, shared
files …) and, when that finds none, from the server's first API credential pair,
which is what emulators such as moto or LocalStack accept.

S3 failures become the InvalidParameterValueException AWS sends, quoting S3's
own error code and message: ``Error occurred while GetObject. S3 Error Code:
NoSuchKey. S3 Error Message: The specified key does not exist.``
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions

from lamina.aws_clients import AwsClients
from lamina.errors import InvalidParameterValueException
from lamina.settings import Settings


def _s3_error(code: str, message: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(
        f"Error occurred while GetObject. S3 Error Code: {code}. S3 Error Message: {message}")


class S3CodeFetcher:
    """`fetch(bucket, key, version) -> bytes`, blocking and thread-safe.

    Each call is one GetObject; callers on the event loop should prefer
    `asyncio.to_thread` (a package is at most a few tens of MB, so a direct call
    is tolerable where the caller is synchronous).
    """

    def __init__(self, settings: Settings) -> None:
        self.clients = AwsClients(settings, read_timeout=60, max_attempts=2)

    def _s3(self) -> Any:
        return self.clients.get("s3")

    def fetch(self, bucket: str, key: str, version: str | None = None) -> bytes:
        args = {"Bucket": bucket, "Key": key}
        if version:
            args["VersionId"] = version
        try:
            response = self._s3().get_object(**args)
            return bytes(response["Body"].read())
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or "Unknown")
            raise _s3_error(code, str(error.get("Message") or code)) from None
        except botocore.exceptions.BotoCoreError as exc:
            # Unreachable endpoint, no credentials …: S3 never answered.
            raise _s3_error("ServiceUnavailable", str(exc)) from None
