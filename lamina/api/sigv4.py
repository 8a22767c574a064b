"""AWS Signature Version 4 verification for the Lambda REST API.

Clients sign the path they send (percent-encoded ARNs included) with every
segment encoded once more for non-S3 services, so verification works on the raw
request path, never on a decoded one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

from lamina.errors import LaminaError

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<sig>[0-9a-f]+)")
MAX_SKEW = dt.timedelta(minutes=15)


class InvalidSignatureException(LaminaError):
    code = "InvalidSignatureException"
    status = 403
    message_field = "message"


class UnrecognizedClientException(LaminaError):
    code = "UnrecognizedClientException"
    status = 403
    message_field = "message"


class MissingAuthenticationTokenException(LaminaError):
    code = "MissingAuthenticationTokenException"
    status = 403
    message_field = "message"


class IncompleteSignatureException(LaminaError):
    code = "IncompleteSignatureException"
    status = 403
    message_field = "message"


_MISMATCH = ("The request signature we calculated does not match the signature you provided. "
             "Check your AWS Secret Access Key and signing method. Consult the service "
             "documentation for details.")


@dataclass(frozen=True)
class Caller:
    access_key: str
    region: str
    service: str


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 as SigV4 applies it to non-S3 paths: `.`/`..` resolved and empty
    segments (consecutive slashes) dropped; a trailing `/` stays only if the path ends with one."""
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    head = "/" if path.startswith("/") else ""
    tail = "/" if path.endswith("/") and kept else ""
    return head + "/".join(kept) + tail


def canonical_uri(raw_path: str) -> str:
    return quote(remove_dot_segments(raw_path or "/"), safe="/~")


def canonical_query(raw_query: str) -> str:
    """The SigV4 canonical form: every name and value decoded, then strictly encoded."""
    pairs = []
    for part in raw_query.split("&") if raw_query else ():
        key, _, value = part.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def query_variants(raw_query: str) -> list[str]:
    """Canonical query strings a correct client may have signed.

    botocore signs the query exactly as it sent it (already strictly encoded by
    itself), other SDKs re-encode; a `+` tells the two apart, so try both.
    """
    strict = canonical_query(raw_query)
    verbatim = "&".join(sorted(p if "=" in p else p + "=" for p in raw_query.split("&"))) \
        if raw_query else ""
    return [strict] if verbatim == strict else [strict, verbatim]


def canonical_request(method: str, raw_path: str, query: str,
                      headers: Mapping[str, str], signed: Iterable[str], payload_hash: str) -> str:
    """`query` is already canonical (see `query_variants`)."""
    signed = list(signed)
    lines = "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed)
    return "\n".join([method, canonical_uri(raw_path), query, lines, ";".join(signed),
                      payload_hash])


def string_to_sign(amz_date: str, scope: str, request: str) -> str:
    return "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                      hashlib.sha256(request.encode()).hexdigest()])


def verify(method: str, raw_path: str, raw_query: str, headers: Mapping[str, str], body: bytes,
           credentials: Mapping[str, str], now: dt.datetime | None = None) -> Caller:
    """Check the Authorization header; returns the caller or raises a 403 error.

    `headers` must be keyed by lower-case names.
    """
    auth = headers.get("authorization")
    if not auth:
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    m = _AUTH.match(auth)
    if not m:
        raise IncompleteSignatureException(
            f"Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' "
            f"parameters. Authorization={auth}")
    cred = m["cred"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise IncompleteSignatureException(f"Credential should be scoped correctly: {m['cred']}")
    access_key, date, region, service, _ = cred
    secret = credentials.get(access_key)
    if secret is None:
        raise UnrecognizedClientException("The security token included in the request is invalid.")
    amz_date = headers.get("x-amz-date", "")
    try:
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise IncompleteSignatureException("Date must be in ISO-8601 'basic format'.") from None
    now = now or dt.datetime.now(dt.UTC)
    if abs(now - when) > MAX_SKEW:
        raise InvalidSignatureException(
            f"Signature expired: {amz_date} is now earlier than "
            f"{(now - MAX_SKEW).strftime('%Y%m%dT%H%M%SZ')}")
    payload_hash = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    signed = m["signed"].split(";")
    scope = f"{date}/{region}/{service}/aws4_request"
    key = signing_key(secret, date, region, service)
    for query in query_variants(raw_query):
        request = canonical_request(method, raw_path, query, headers, signed, payload_hash)
        expected = hmac.new(key, string_to_sign(amz_date, scope, request).encode(),
                            hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, m["sig"]):
            return Caller(access_key=access_key, region=region, service=service)
    raise InvalidSignatureException(_MISMATCH)
