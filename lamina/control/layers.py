"""Layers: versions, their permissions, the check of a function's `Layers`, and /opt.

A layer version's zip is stored in the `BlobStore` under its SHA-256 and
unpacked once by the `CodeCache`, exactly like function code (a layer and a
function with the same zip share both). Stored documents:

* ``layer/<name>``: ``{"name", "next_version"}``; version numbers are never
  reused, even after every version was deleted (recorded AWS behaviour).
* ``layer_version/<name>/<0000000001>``: the wire `GetLayerVersionResponse` plus
  ``_code`` (blob digest), ``_unzipped`` (bytes) and ``_policy``.

DeleteLayerVersion leaves a tombstone (``_deleted``): on AWS a function keeps the
layer versions it references after they are deleted, so `OptDirs` must still
find their content. The API treats tombstones as absent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lamina.arns import Arns, LayerVersionRef
from lamina.control.code import UNZIPPED_LIMIT, CodeCache, Package, build_once, store_package
from lamina.control.resolve import new_revision, public, timestamp
from lamina.errors import (
    AccessDeniedException,
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
    ServiceException,
)
from lamina.store.base import BlobStore, Doc, MetadataStore

log = logging.getLogger("lamina.layers")

LAYER = "layer"
LAYER_VERSION = "layer_version"
MAX_LAYERS = 5
NOT_FOUND = "The resource you requested does not exist."
STALE_POLICY = ("The Revision Id provided does not match the latest Revision Id. "
                "Call the GetLayerPolicy API to retrieve the latest Revision Id")
_LIST_ITEM_FIELDS = ("LayerVersionArn", "Version", "Description", "CreatedDate",
                     "CompatibleRuntimes", "LicenseInfo", "CompatibleArchitectures")

# (bucket, key, object version) -> the object's bytes; raises InvalidParameterValueException.
S3Fetch = Callable[[str, str, str | None], bytes]


def version_key(name: str, version: int) -> str:
    return f"{name}/{version:010d}"


def _below_one() -> InvalidParameterValueException:
    return InvalidParameterValueException("Layer Version Cannot be less than 1")


class Layers:
    """Layer versions and their policies. Methods run on the event loop except
    `store_content`, which does the slow part (download, hash, unpack) in a thread."""

    def __init__(self, store: MetadataStore, blobs: BlobStore, code: CodeCache, arns: Arns,
                 fetch_s3: S3Fetch) -> None:
        self.store = store
        self.blobs = blobs
        self.code = code
        self.arns = arns
        self.fetch_s3 = fetch_s3

    # -- names ------------------------------------------------------------------------------

    def _name(self, layer_name: str, action: str, version: int | None = None) -> str:
        """The layer a LayerName (name or layer ARN) designates in this account."""
        if not layer_name.startswith("arn:"):
            return layer_name
        ref = LayerVersionRef.parse(layer_name)
        if ref is None:  # the model's pattern admits nothing else; be defensive
            raise ResourceNotFoundException(NOT_FOUND)
        if ref.region != self.arns.region:
            raise ResourceNotFoundException(NOT_FOUND)   # this server holds one region
        if ref.account != self.arns.account:
            # Lamina serves one account: another account's layer is never ours to read
            # or to share, which AWS answers with an authorisation failure.
            resource = layer_name if version is None else f"{layer_name}:{version}"
            raise AccessDeniedException(
                f"User: arn:{self.arns.partition}:iam::{self.arns.account}:root is not "
                f"authorized to perform: lambda:{action} on resource: {resource} because no "
                f"resource-based policy allows the lambda:{action} action")
        return ref.name

    def _live(self, name: str, version: int) -> Doc | None:
        doc = self.store.get(LAYER_VERSION, version_key(name, version))
        return None if doc is None or doc.get("_deleted") else doc

    def _existing(self, name: str, version: int) -> Doc:
        """A live version for the permission operations (their own not-found text)."""
        doc = self._live(name, version) if version >= 1 else None
        if doc is None:
            raise ResourceNotFoundException(
                f"Layer version {self.arns.layer(name, version)} does not exist.")
        return doc

    # -- publish ----------------------------------------------------------------------------

    def store_content(self, content: dict[str, Any]) -> Package:
        """Fetch (S3) or take (ZipFile) the zip, validate, store and unpack it.

        Blocking; call it from a worker thread. Idempotent for equal content.
        """
        data = content.get("ZipFile")
        if data is None and content.get("S3Bucket") and content.get("S3Key"):
            data = self.fetch_s3(content["S3Bucket"], content["S3Key"],
                                 content.get("S3ObjectVersion"))
        if data is None:
            raise InvalidParameterValueException("Please provide a source for layer code.")
        package = store_package(self.blobs, data)
        self.code.ensure(package.digest)   # unpack now so invocations only link files
        return package

    def publish(self, p: dict[str, Any], package: Package, location: str) -> Doc:
        name = self._name(p["LayerName"], "PublishLayerVersion")
        with self.store.transaction():
            layer = self.store.get(LAYER, name) or {"name": name, "next_version": 1}
            number = int(layer["next_version"])
            layer["next_version"] = number + 1
            doc: Doc = {
                "Content": {"Location": location, "CodeSha256": package.sha256_b64,
                            "CodeSize": package.size},
                "LayerArn": self.arns.layer(name),
                "LayerVersionArn": self.arns.layer(name, number),
                "Description": p.get("Description") or "",
                "CreatedDate": timestamp(),
                "Version": number,
                "_code": package.digest,
                "_unzipped": package.unzipped_size,
            }
            # AWS echoes these only when the request had them (even as empty lists).
            for key in ("CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"):
                if p.get(key) is not None:
                    doc[key] = p[key]
            self.store.put(LAYER, name, layer)
            self.store.put(LAYER_VERSION, version_key(name, number), doc)
        return public(doc)

    # -- read -------------------------------------------------------------------------------

    def get(self, layer_name: str, version: int, location: Callable[[str], str]) -> Doc:
        name = self._name(layer_name, "GetLayerVersion", version)
        if version < 1:
            raise _below_one()
        doc = self._live(name, version)
        if doc is None:
            raise ResourceNotFoundException(NOT_FOUND)
        shown = public(doc)
        # Presigned-style links expire, so the location is minted per request.
        shown["Content"] = {**shown["Content"], "Location": location(doc["_code"])}
        return shown

    def get_by_arn(self, arn: str, location: Callable[[str], str]) -> Doc:
        ref = LayerVersionRef.parse(arn)
        if ref is None or ref.version is None:  # excluded by the model's pattern
            raise ResourceNotFoundException(NOT_FOUND)
        return self.get(arn.rsplit(":", 1)[0], ref.version, location)

    def _matches(self, doc: Doc, runtime: str | None, architecture: str | None) -> bool:
        if runtime is not None and runtime not in (doc.get("CompatibleRuntimes") or []):
            return False
        return architecture is None or architecture in (doc.get("CompatibleArchitectures") or [])

    def _versions(self, name: str, runtime: str | None, architecture: str | None) -> list[Doc]:
        """Live versions of one layer that pass the filters, newest first."""
        docs = [d for _, d in self.store.scan(LAYER_VERSION, f"{name}/")]
        return [{k: d[k] for k in _LIST_ITEM_FIELDS if k in d} for d in reversed(docs)
                if not d.get("_deleted") and self._matches(d, runtime, architecture)]

    def list_versions(self, layer_name: str, runtime: str | None,
                      architecture: str | None) -> list[Doc]:
        name = self._name(layer_name, "ListLayerVersions")
        return self._versions(name, runtime, architecture)

    def list_layers(self, runtime: str | None, architecture: str | None) -> list[Doc]:
        out = []
        for name, _ in self.store.scan(LAYER):
            versions = self._versions(name, runtime, architecture)
            if versions:
                out.append({"LayerName": name, "LayerArn": self.arns.layer(name),
                            "LatestMatchingVersion": versions[0]})
        return out

    # -- delete -----------------------------------------------------------------------------

    def delete(self, layer_name: str, version: int) -> None:
        """Idempotent, as on AWS: deleting what does not exist succeeds."""
        name = self._name(layer_name, "DeleteLayerVersion", version)
        if version < 0:
            raise _below_one()
        with self.store.transaction():
            doc = self._live(name, version) if version >= 1 else None
            if doc is not None:
                doc["_deleted"] = True
                doc.pop("_policy", None)
                self.store.put(LAYER_VERSION, version_key(name, version), doc)

    # -- permissions ------------------------------------------------------------------------

    def add_permission(self, p: dict[str, Any]) -> dict[str, str]:
        version = int(p["VersionNumber"])
        name = self._name(p["LayerName"], "AddLayerVersionPermission", version)
        with self.store.transaction():
            doc = self._existing(name, version)
            policy = doc.get("_policy") or {"statements": [], "revision": None}
            if p.get("RevisionId") is not None and p["RevisionId"] != policy["revision"]:
                raise PreconditionFailedException(STALE_POLICY)
            sid = p["StatementId"]
            if any(s["Sid"] == sid for s in policy["statements"]):
                raise ResourceConflictException(
                    f"The statement id ({sid}) provided already exists. Please provide a new "
                    "statement id, or remove the existing statement.")
            statement: Doc = {"Sid": sid, "Effect": "Allow",
                              "Principal": self._principal(p["Principal"]),
                              "Action": p["Action"], "Resource": doc["LayerVersionArn"]}
            if p.get("OrganizationId"):
                statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID":
                                                           p["OrganizationId"]}}
            policy = {"statements": [*policy["statements"], statement],
                      "revision": new_revision()}
            doc["_policy"] = policy
            self.store.put(LAYER_VERSION, version_key(name, version), doc)
        return {"Statement": json.dumps(statement, separators=(",", ":")),
                "RevisionId": policy["revision"]}

    def _principal(self, given: str) -> str | dict[str, str]:
        """`*`, an account id or an account root ARN (the model admits nothing else)."""
        if given == "*":
            return given
        if given.startswith("arn:"):
            return {"AWS": given}
        return {"AWS": f"arn:{self.arns.partition}:iam::{given}:root"}

    def get_policy(self, layer_name: str, version: int) -> dict[str, str]:
        name = self._name(layer_name, "GetLayerVersionPolicy", version)
        policy = self._existing(name, version).get("_policy")
        if not policy or not policy["statements"]:
            raise ResourceNotFoundException("No policy is associated with the given resource.")
        document = {"Version": "2012-10-17", "Id": "default", "Statement": policy["statements"]}
        return {"Policy": json.dumps(document, separators=(",", ":")),
                "RevisionId": policy["revision"]}

    def remove_permission(self, p: dict[str, Any]) -> None:
        version = int(p["VersionNumber"])
        name = self._name(p["LayerName"], "RemoveLayerVersionPermission", version)
        with self.store.transaction():
            doc = self._existing(name, version)
            policy = doc.get("_policy") or {"statements": [], "revision": None}
            sid = p["StatementId"]
            kept = [s for s in policy["statements"] if s["Sid"] != sid]
            if len(kept) == len(policy["statements"]):
                raise ResourceNotFoundException(f"Statement {sid} is not found in resource policy.")
            if p.get("RevisionId") is not None and p["RevisionId"] != policy["revision"]:
                raise PreconditionFailedException(STALE_POLICY)
            doc["_policy"] = {"statements": kept, "revision": new_revision()}
            self.store.put(LAYER_VERSION, version_key(name, version), doc)

    # -- functions --------------------------------------------------------------------------

    def resolve(self, arns: list[str], runtime: str | None = None,
                code_unzipped: int = 0) -> list[dict[str, Any]]:
        """A function's `Layers` request -> the wire list ``[{Arn, CodeSize}]``.

        Checks, in AWS's order: at most five, no layer twice, same region, every
        version exists (deleted ones do not). `code_unzipped` (the function's own
        unzipped size, when the caller knows it) counts against the 250 MB limit.
        `runtime` is accepted for the interface: AWS does not reject a layer whose
        CompatibleRuntimes lacks the function's runtime (the console only warns).
        """
        if len(arns) > MAX_LAYERS:
            raise InvalidParameterValueException("Cannot reference more than 5 layers.")
        refs = [(arn, LayerVersionRef.parse(arn)) for arn in arns]
        seen: dict[tuple[str, str], str] = {}
        for arn, ref in refs:
            if ref is None:
                continue
            first = seen.get((ref.account, ref.name))
            if first is None:
                seen[(ref.account, ref.name)] = arn
            else:
                raise InvalidParameterValueException(
                    "Two different versions of the same layer are not allowed to be referenced "
                    f"in the same function. {first} and {arn} are versions of the same layer.")
        for _, ref in refs:
            if ref is not None and ref.region != self.arns.region:
                raise InvalidParameterValueException(
                    "Layers are not in the same region as the function. Layers are expected to "
                    f"be in region {self.arns.region}.")
        out, total = [], code_unzipped
        for arn, ref in refs:
            doc = None
            if ref is not None and ref.version and ref.account == self.arns.account:
                doc = self._live(ref.name, ref.version)
            if doc is None:
                raise InvalidParameterValueException(f"Layer version {arn} does not exist.")
            total += int(doc.get("_unzipped", 0))
            out.append({"Arn": doc["LayerVersionArn"], "CodeSize": doc["Content"]["CodeSize"]})
        if total > UNZIPPED_LIMIT:
            raise InvalidParameterValueException(
                "Function code combined with layers exceeds the maximum allowed size of "
                f"{UNZIPPED_LIMIT} bytes. The actual size is {total} bytes.")
        return out

    def digest_of(self, arn: str) -> str | None:
        """The content digest of a layer version, deleted or not (functions keep theirs)."""
        ref = LayerVersionRef.parse(arn)
        if ref is None or ref.version is None:
            return None
        doc = self.store.get(LAYER_VERSION, version_key(ref.name, ref.version))
        return None if doc is None else str(doc["_code"])


class OptDirs:
    """The invoker's `Layers`: one merged, read-only /opt folder per ordered layer set.

    ``<root>/<hash>/`` holds the layers of a function unpacked in order, later
    ones replacing earlier files, where <hash> covers the ordered list of content
    digests: functions that share a layer set share one folder, built once. Files
    are hard links into the `CodeCache`'s unpacked layers (no second copy on disk);
    copies only where linking fails. Folders are never changed after they appear
    (built in a temporary folder, then renamed) and are not garbage-collected.
    Thread-safe.
    """

    def __init__(self, root: Path, layers: Layers, code: CodeCache) -> None:
        self.root = root
        self.layers = layers
        self.code = code
        root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def opt_dir(self, layers: list[dict[str, Any]]) -> Path | None:
        if not layers:
            return None
        digests = []
        for entry in layers:
            digest = self.layers.digest_of(entry["Arn"])
            if digest is None:
                raise ServiceException(f"The content of layer version {entry['Arn']} is missing.")
            digests.append(digest)
        key = hashlib.sha256("\n".join(digests).encode()).hexdigest()[:32]

        def merge(folder: Path) -> None:
            for digest in digests:
                _overlay(self.code.ensure(digest), folder)
            os.chmod(folder, 0o755)
            log.info("built /opt %s from %d layer(s)", key, len(digests))
        return build_once(self.root / key, self._lock, merge)


def _clear(path: Path) -> None:
    """Remove whatever is at `path` (file, symlink or folder) so a later layer can win."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _overlay(src: Path, dest: Path) -> None:
    """Lay the tree `src` over `dest`: its files replace theirs, folders merge."""
    for folder, dirs, files in os.walk(src):
        rel = Path(folder).relative_to(src)
        here = dest / rel
        for d in list(dirs):
            s, t = Path(folder) / d, here / d
            if s.is_symlink():            # a symlinked folder is copied as a link
                dirs.remove(d)
                files.append(d)
                continue
            if t.is_symlink() or (t.exists() and not t.is_dir()):
                _clear(t)
            t.mkdir(mode=0o755, exist_ok=True)
        for f in files:
            s, t = Path(folder) / f, here / f
            if t.is_symlink() or t.exists():
                _clear(t)
            if s.is_symlink():
                t.symlink_to(os.readlink(s))
                continue
            try:
                os.link(s, t)
            except OSError:
                shutil.copy2(s, t)
