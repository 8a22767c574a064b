"""Function URL configurations: Create/Get/Update/Delete/ListFunctionUrlConfig(s).

One configuration per function and per alias (AWS does not accept versions or
`$LATEST`), stored under the kind `url` with the key ``<name>`` or
``<name>/<alias>``. Each has a random 32-character url-id that names it in its
host, ``<url-id>.lambda-url.<region>.<domain>``; `find()` maps an id back to its
configuration for the HTTP side (`api/function_urls.py`) through an in-memory
index that is rebuilt from the store on a miss, so configurations created by
another replica are found too.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Any

from lamina.control.functions import Functions
from lamina.control.resolve import FUNCTION, timestamp
from lamina.errors import ResourceConflictException, ResourceNotFoundException
from lamina.store.base import Doc

URL = "url"
_NO_RESOURCE = "The resource you requested does not exist."
_NO_FUNCTION = "Function does not exist"
_ID_ALPHABET = string.ascii_lowercase + string.digits


def url_key(name: str, qualifier: str | None) -> str:
    return name if qualifier is None else f"{name}/{qualifier}"


@dataclass(frozen=True)
class UrlTarget:
    """What a function URL invokes and how it is guarded."""

    url_id: str
    function_name: str
    qualifier: str | None
    auth_type: str
    invoke_mode: str
    cors: dict[str, Any] | None


class Urls:
    def __init__(self, functions: Functions, domain: str, scheme: str = "http") -> None:
        """`domain` follows ``lambda-url.<region>.`` in every URL (``localhost:9700``)."""
        self.store = functions.store
        self.resolve = functions.resolve
        self.arns = functions.arns
        self.host_suffix = f"lambda-url.{functions.arns.region}.{domain}"
        self.scheme = scheme
        self._by_id: dict[str, str] = {}     # url-id -> store key
        functions.register_dependent(URL)

    # -- resolution ---------------------------------------------------------------------------

    def _name(self, function_name: str, qualifier: str | None, missing: str) -> tuple[str, str | None]:
        """The function (and alias) a request names; `missing` is the not-found text."""
        ref, qualifier = self.resolve.ref(function_name, qualifier)
        if self.store.get(FUNCTION, ref.name) is None:
            raise ResourceNotFoundException(missing)
        if qualifier is not None and self.resolve.alias(ref.name, qualifier) is None:
            raise ResourceNotFoundException(missing)
        return ref.name, qualifier

    def _shown(self, doc: Doc, *fields: str) -> Doc:
        out = {"FunctionUrl": doc["FunctionUrl"], "FunctionArn": doc["FunctionArn"],
               "AuthType": doc["AuthType"], "CreationTime": doc["CreationTime"]}
        if doc.get("Cors"):
            out["Cors"] = doc["Cors"]
        for field in fields:
            out[field] = doc[field]
        return out

    # -- operations ---------------------------------------------------------------------------

    def create(self, p: dict[str, Any]) -> Doc:
        name, qualifier = self._name(p["FunctionName"], p.get("Qualifier"), _NO_FUNCTION)
        arn = self.arns.function(name, qualifier)
        url_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(32))
        now = timestamp()
        doc: Doc = {"FunctionUrl": f"{self.scheme}://{url_id}.{self.host_suffix}/",
                    "FunctionArn": arn, "AuthType": p["AuthType"], "CreationTime": now,
                    "LastModifiedTime": now, "InvokeMode": p.get("InvokeMode") or "BUFFERED",
                    "url_id": url_id, "mode_set": bool(p.get("InvokeMode"))}
        if p.get("Cors") is not None:
            doc["Cors"] = p["Cors"]
        key = url_key(name, qualifier)
        with self.store.transaction():
            if self.store.get(URL, key) is not None:
                raise ResourceConflictException(
                    f"Failed to create function url config for [functionArn = {arn}]. "
                    "Error message:  FunctionUrlConfig exists for this Lambda function")
            self.store.put(URL, key, doc)
        self._by_id[url_id] = key
        # AWS echoes InvokeMode only when the request set it.
        return self._shown(doc, *(("InvokeMode",) if p.get("InvokeMode") else ()))

    def get(self, function_name: str, qualifier: str | None) -> Doc:
        name, qualifier = self._name(function_name, qualifier, _NO_RESOURCE)
        doc = self.store.get(URL, url_key(name, qualifier))
        if doc is None:
            raise ResourceNotFoundException(_NO_RESOURCE)
        return self._shown(doc, "InvokeMode", "LastModifiedTime")

    def update(self, p: dict[str, Any]) -> Doc:
        name, qualifier = self._name(p["FunctionName"], p.get("Qualifier"), _NO_FUNCTION)
        key = url_key(name, qualifier)
        with self.store.transaction():
            doc = self.store.get(URL, key)
            if doc is None:
                raise ResourceNotFoundException(_NO_RESOURCE)
            for field in ("AuthType", "InvokeMode"):
                if p.get(field):
                    doc[field] = p[field]
            doc["mode_set"] = bool(doc.get("mode_set") or p.get("InvokeMode"))
            if "Cors" in p:
                doc["Cors"] = p["Cors"]
            doc["LastModifiedTime"] = timestamp()
            self.store.put(URL, key, doc)
        # Update echoes InvokeMode once it was ever set explicitly, even by an earlier call
        # (recorded: test_lambda_update_function_url_config, modify_lambda_url_config_none;
        # never set: test_url_config_lifecycle, updated_url_config has none).
        shown_mode = ("InvokeMode",) if doc["mode_set"] else ()
        return self._shown(doc, "LastModifiedTime", *shown_mode)

    def delete(self, function_name: str, qualifier: str | None) -> None:
        name, qualifier = self._name(function_name, qualifier, _NO_RESOURCE)
        key = url_key(name, qualifier)
        doc = self.store.get(URL, key)
        if doc is None or not self.store.delete(URL, key):
            raise ResourceNotFoundException(_NO_RESOURCE)
        self._by_id.pop(doc["url_id"], None)

    def list(self, function_name: str) -> list[Doc]:
        name, _ = self._name(function_name, None, _NO_FUNCTION)
        docs = [self.store.get(URL, name)] + [d for _, d in self.store.scan(URL, f"{name}/")]
        return [self._shown(d, "InvokeMode", "LastModifiedTime") for d in docs if d is not None]

    # -- the HTTP side ------------------------------------------------------------------------

    def find(self, url_id: str) -> UrlTarget | None:
        """The configuration a request's url-id names, or None (ids are case-insensitive)."""
        url_id = url_id.lower()
        doc = self._lookup(url_id)
        if doc is None:
            self._by_id = {d["url_id"]: key for key, d in self.store.scan(URL)}
            doc = self._lookup(url_id)
        if doc is None:
            return None
        name, _, qualifier = self._by_id[url_id].partition("/")
        return UrlTarget(url_id=url_id, function_name=name, qualifier=qualifier or None,
                         auth_type=doc["AuthType"], invoke_mode=doc.get("InvokeMode", "BUFFERED"),
                         cors=doc.get("Cors"))

    def _lookup(self, url_id: str) -> Doc | None:
        key = self._by_id.get(url_id)
        if key is None:
            return None
        doc = self.store.get(URL, key)
        # A deleted function (or a re-created configuration) leaves a stale index entry.
        return doc if doc is not None and doc.get("url_id") == url_id else None
