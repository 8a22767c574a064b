"""S3 event notifications from S3-compatible stores' webhooks (MinIO, Ceph RGW …).

`POST /_lamina/s3-notifications/{function}` where `{function}` is a name,
optionally `name:qualifier`. The body is an S3 event, `{"Records": [...]}`;
MinIO's webhook envelope (`EventName`, `Key`, `Records`) is accepted too.
Records are brought to AWS's shape (spec §7.3: `eventName` without the `s3:`
prefix, `eventSource` aws:s3, `awsRegion`, bucket ARN) and each is invoked
**asynchronously**, one event per record, as S3 does.

Who may call: a webhook cannot sign SigV4, so the caller presents the secret
access key of one of the server's credentials as `Authorization: Bearer <key>`
(MinIO's `auth_token`) or `?token=<key>`. As on AWS, the function's resource
policy must also allow `lambda:InvokeFunction` to principal `s3.amazonaws.com`
for the bucket's ARN (AddPermission with SourceArn/SourceAccount); without it
the store gets 403 and nothing is invoked.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
from typing import Any

from aiohttp import web

from lamina.arns import FunctionRef
from lamina.errors import LaminaError
from lamina.invoke.service import InvokeRequest

log = logging.getLogger("lamina.api.s3")

PATH = "/_lamina/s3-notifications/{function}"
S3 = {"Service": "s3.amazonaws.com"}


def add_routes(app: web.Application, services: Any) -> None:
    async def receive(request: web.Request) -> web.Response:
        return await _receive(request, services)
    app.router.add_post(PATH, receive)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"Type": "User", "Message": message, "__type": code},
                             status=status, headers={"x-amzn-ErrorType": code})


def _authorised(request: web.Request, secrets: list[str]) -> bool:
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else \
        request.query.get("token", "")
    return bool(token) and any(hmac.compare_digest(token, s) for s in secrets if s)


async def _receive(request: web.Request, services: Any) -> web.Response:
    settings = services.settings
    if not _authorised(request, list(settings.credentials.values())):
        return _error(403, "AccessDeniedException", "A valid bearer token is required.")
    try:
        ref = FunctionRef.parse(request.match_info["function"])
    except ValueError:
        return _error(400, "InvalidParameterValueException", "Invalid function name.")
    try:
        body = json.loads(await request.read())
        records = [normalise(r, settings.region) for r in body["Records"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        return _error(400, "InvalidRequestContentException",
                      "Expected an S3 event notification: {\"Records\": [...]}.")
    for record in records:
        bucket = record["s3"]["bucket"]["arn"]
        context = {"AWS:SourceArn": bucket, "AWS:SourceAccount": settings.account_id}
        if not services.policies.allows(ref.name, ref.qualifier, "lambda:InvokeFunction",
                                        context, S3):
            return _error(403, "AccessDeniedException",
                          f"s3.amazonaws.com is not allowed to invoke {ref.name} for {bucket}.")
    accepted = []
    for record in records:
        try:
            answer = await services.invoker.invoke(InvokeRequest(
                function_name=ref.name, qualifier=ref.qualifier, invocation_type="Event",
                payload=json.dumps({"Records": [record]}).encode()))
        except LaminaError as err:
            return _error(err.status, err.code, err.message)
        accepted.append(answer.request_id)
    return web.json_response({"Accepted": accepted})


def normalise(record: dict[str, Any], region: str) -> dict[str, Any]:
    """One notification record in AWS's S3 event shape (fields a store left out filled in)."""
    out = dict(record)
    s3 = dict(out["s3"])
    bucket = dict(s3["bucket"])
    bucket.setdefault("arn", f"arn:aws:s3:::{bucket['name']}")
    if not bucket["arn"]:
        bucket["arn"] = f"arn:aws:s3:::{bucket['name']}"
    bucket.setdefault("ownerIdentity", {"principalId": ""})
    s3["bucket"] = bucket
    s3.setdefault("s3SchemaVersion", "1.0")
    s3.setdefault("object", {})
    out["s3"] = s3
    name = str(out.get("eventName", ""))
    out["eventName"] = name.removeprefix("s3:")
    out.setdefault("eventVersion", "2.1")
    out["eventSource"] = "aws:s3"
    out["awsRegion"] = out.get("awsRegion") or region
    if not out.get("eventTime"):
        now = dt.datetime.now(dt.UTC)
        out["eventTime"] = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    out.setdefault("userIdentity", {"principalId": ""})
    out.setdefault("requestParameters", {"sourceIPAddress": ""})
    out.setdefault("responseElements", {})
    return out
