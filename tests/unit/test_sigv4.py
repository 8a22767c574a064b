"""SigV4 verification against signatures made by botocore itself."""

import datetime as dt

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.api import sigv4

CREDS = {"test": "test"}


def signed(method: str, url: str, body: bytes = b"", key: str = "test", secret: str = "test",
           headers: dict[str, str] | None = None):
    req = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(Credentials(key, secret), "lambda", "us-east-1").add_auth(req)
    prepared = req.prepare()
    path, _, query = prepared.url.split("127.0.0.1:9", 1)[1].partition("?")
    return prepared, "/" + path.split("/", 1)[1] if "/" in path else "/", query


def verify(prepared, path, query, body=b"", creds=CREDS):
    headers = {k.lower(): v for k, v in prepared.headers.items()}
    headers.setdefault("host", "127.0.0.1:9")
    return sigv4.verify(prepared.method, path, query, headers, body, creds)


def test_botocore_signature_verifies():
    url = "http://127.0.0.1:9/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af/invocations?Qualifier=live"
    prepared, path, query = signed("POST", url, b'{"a": 1}')
    caller = verify(prepared, path, query, b'{"a": 1}')
    assert (caller.access_key, caller.region, caller.service) == ("test", "us-east-1", "lambda")


def test_tampered_body_is_rejected():
    prepared, path, query = signed("POST", "http://127.0.0.1:9/2015-03-31/functions", b"{}")
    with pytest.raises(sigv4.InvalidSignatureException):
        verify(prepared, path, query, b'{"x": 1}')


def test_wrong_secret_and_unknown_key():
    prepared, path, query = signed("GET", "http://127.0.0.1:9/2015-03-31/functions", secret="nope")
    with pytest.raises(sigv4.InvalidSignatureException):
        verify(prepared, path, query)
    prepared, path, query = signed("GET", "http://127.0.0.1:9/2015-03-31/functions", key="other")
    with pytest.raises(sigv4.UnrecognizedClientException):
        verify(prepared, path, query)


def test_missing_authorization():
    with pytest.raises(sigv4.MissingAuthenticationTokenException):
        sigv4.verify("GET", "/", "", {}, b"", CREDS)


def test_clock_skew_is_rejected():
    prepared, path, query = signed("GET", "http://127.0.0.1:9/2015-03-31/functions")
    headers = {k.lower(): v for k, v in prepared.headers.items()}
    headers["host"] = "127.0.0.1:9"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    with pytest.raises(sigv4.InvalidSignatureException):
        sigv4.verify("GET", path, query, headers, b"", CREDS, now=later)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="/?#%"),
               min_size=1, max_size=30),
       st.dictionaries(st.from_regex(r"[A-Za-z]{1,8}", fullmatch=True),
                       st.text(alphabet="abc xyz:=&+", max_size=10), max_size=3))
def test_any_label_and_query_verify(label, query):
    from urllib.parse import quote, urlencode
    url = f"http://127.0.0.1:9/2017-03-31/tags/{quote(label, safe='')}"
    if query:
        url += "?" + urlencode(query)
    prepared, path, raw_query = signed("GET", url)
    verify(prepared, path, raw_query)
