"""STS GetCallerIdentity (query protocol), so tools can learn Lamina's account id.

`aws sts get-caller-identity --endpoint-url …` and SDKs that look up the account
work unchanged; the caller is the account root of the key pair that signed.
"""

from __future__ import annotations

from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from aiohttp import web

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"


def is_sts(method: str, path: str, service: str | None, body: bytes) -> bool:
    return method == "POST" and path == "/" and service == "sts"


def respond(body: bytes, account_id: str, access_key: str, partition: str,
            request_id: str) -> web.Response:
    action = (parse_qs(body.decode(errors="replace")).get("Action") or [""])[0]
    if action != "GetCallerIdentity":
        xml = (f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>Sender</Type>'
               f"<Code>InvalidAction</Code><Message>Could not find operation {escape(action)} "
               f"for version 2011-06-15</Message></Error><RequestId>{request_id}</RequestId>"
               "</ErrorResponse>")
        return web.Response(status=400, body=xml.encode(), content_type="text/xml")
    xml = (f'<GetCallerIdentityResponse xmlns="{NAMESPACE}"><GetCallerIdentityResult>'
           f"<Arn>arn:{partition}:iam::{account_id}:root</Arn>"
           f"<UserId>{escape(account_id)}</UserId><Account>{account_id}</Account>"
           f"</GetCallerIdentityResult><ResponseMetadata><RequestId>{request_id}</RequestId>"
           "</ResponseMetadata></GetCallerIdentityResponse>")
    return web.Response(body=xml.encode(), content_type="text/xml",
                        headers={"x-amzn-RequestId": request_id})
