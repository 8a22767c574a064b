"""Functions and their versions: create, read, update, delete, list, publish.

Stored documents are the wire `FunctionConfiguration` plus internal fields whose
names start with `_` (`_code`: blob digest of the package, `_snapshot`: what a
published version was taken from). State moves Pending → Active and
LastUpdateStatus InProgress → Successful in `activate()`, which runs in the
background after the response, as on AWS.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from lamina.arns import LATEST, Arns, FunctionRef
from lamina.control.code import CodeCache, Package, store_package
from lamina.control.resolve import (
    ALIAS,
    FUNCTION,
    VERSION,
    Resolver,
    Target,
    new_revision,
    public,
    timestamp,
    version_key,
)
from lamina.control.runtimes import check_runtime
from lamina.control.tags import TagSet, tag_limit_check
from lamina.errors import (
    AccessDeniedException,
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lamina.model.messages import invalid_parameter
from lamina.store.base import BlobStore, Doc, MetadataStore

log = logging.getLogger("lamina.control")

ENV_LIMIT = 4096
RESERVED_ENV = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})
STALE_REVISION = ("The Revision Id provided does not match the latest Revision Id. "
                  "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
# Configuration fields a published version snapshots (and that decide idempotent publishing).
_SNAPSHOT_FIELDS = ("Runtime", "Role", "Handler", "Description", "Timeout", "MemorySize",
                    "Environment", "CodeSha256", "Layers", "VpcConfig", "DeadLetterConfig",
                    "TracingConfig", "EphemeralStorage", "Architectures", "LoggingConfig",
                    "KMSKeyArn", "FileSystemConfigs", "SnapStart", "ImageConfigResponse")
_LIST_OMITS = ("State", "StateReason", "StateReasonCode", "LastUpdateStatus",
               "LastUpdateStatusReason", "LastUpdateStatusReasonCode", "RuntimeVersionConfig")


def env_size_check(variables: dict[str, str] | None) -> None:
    """The 4 KB limit (recorded), then the reserved names (as AWS answers users who set
    AWS_REGION and the like; names from the Lambda docs' reserved table)."""
    if not variables:
        return
    measured = json.dumps(variables, separators=(",", ":"))
    if len(measured.encode()) > ENV_LIMIT:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment "
            f"variables you have provided exceeded the 4KB limit. String measured: {measured}")
    reserved = [key for key in variables if key in RESERVED_ENV]
    if reserved:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided contains reserved keys that are currently not supported "
            f"for modification. Reserved keys used in this request: {', '.join(reserved)}")


class CrossAccountDenied(AccessDeniedException):
    """Creating a function in another account: 403 with `{"Message": null}`, as AWS
    answers (recorded: test_function_arns, function_arn_other_account_exc)."""

    def __init__(self) -> None:
        super().__init__("")

    def body(self) -> dict[str, Any]:
        return {"Message": None}


def stale(expected: str | None, actual: str) -> None:
    if expected is not None and expected != actual:
        raise PreconditionFailedException(STALE_REVISION)


class Functions:
    """The function/version state machine. Methods are called on the event loop."""

    def __init__(self, store: MetadataStore, blobs: BlobStore, code: CodeCache, arns: Arns,
                 layers: Callable[[list[str], str | None, int], list[dict[str, Any]]] | None = None) -> None:
        self.store = store
        self.blobs = blobs
        self.code = code
        self.arns = arns
        self.resolve = Resolver(store, arns)
        # Layer ARNs -> the wire `Layers` list (validated); provided by control.layers.
        self.layer_resolver = layers
        self.listeners: list[Callable[[str, str | None], None]] = []  # (name, version) changed
        self.dependent_kinds: list[str] = []
        self.tags = TagSet(store, "tags", self._tagged)
        self.version_delete_guards: list[Callable[[str, str], None]] = []
        # (name, CreateFunction params): run inside CreateFunction's transaction once the
        # function is stored; raising aborts the creation (code signing).
        self.create_hooks: list[Callable[[str, dict[str, Any]], None]] = []
        # (name): run before UpdateFunctionCode takes a new package; may refuse by raising.
        self.code_checks: list[Callable[[str], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    # -- create ---------------------------------------------------------------------------

    def create(self, p: dict[str, Any]) -> Doc:
        ref = self.resolve.ref(p["FunctionName"])[0]
        name = ref.name
        if ref.account and ref.account != self.arns.account:
            raise CrossAccountDenied()
        if len(name) > 64:
            raise invalid_parameter("functionName", name,
                                    "Member must have length less than or equal to 64")
        package_type = p.get("PackageType", "Zip")
        if package_type == "Zip":
            check_runtime(p.get("Runtime"))
        env = (p.get("Environment") or {}).get("Variables")
        env_size_check(env)
        tags = p.get("Tags") or {}
        tag_limit_check(len(tags))
        package = self._package(p.get("Code") or {})
        layers = self._layers(p.get("Layers"), p.get("Runtime"), package.unzipped_size)
        if self.store.get(FUNCTION, name) is not None:
            raise ResourceConflictException(f"Function already exist: {name}")
        config: Doc = {
            "FunctionName": name,
            "FunctionArn": self.arns.function(name),
            "Runtime": p.get("Runtime"),
            "Role": p["Role"],
            "Handler": p.get("Handler"),
            "CodeSize": package.size,
            "Description": p.get("Description", ""),
            "Timeout": p.get("Timeout", 3),
            "MemorySize": p.get("MemorySize", 128),
            "LastModified": timestamp(),
            "CodeSha256": package.sha256_b64,
            "Version": LATEST,
            "TracingConfig": p.get("TracingConfig") or {"Mode": "PassThrough"},
            "RevisionId": new_revision(),
            "State": "Pending",
            "StateReason": "The function is being created.",
            "StateReasonCode": "Creating",
            "PackageType": package_type,
            "Architectures": p.get("Architectures") or ["x86_64"],
            "EphemeralStorage": p.get("EphemeralStorage") or {"Size": 512},
            "SnapStart": {"ApplyOn": (p.get("SnapStart") or {}).get("ApplyOn", "None"),
                          "OptimizationStatus": "Off"},
            "RuntimeVersionConfig": {"RuntimeVersionArn": self._runtime_version_arn(p.get("Runtime"))},
            "LoggingConfig": self._logging(p.get("LoggingConfig"), name),
            "_code": package.digest,
            "_unzipped": package.unzipped_size,
        }
        self._optional_fields(config, p)
        if env is not None:
            config["Environment"] = {"Variables": env}
        if layers:
            config["Layers"] = layers
        with self.store.transaction():
            if self.store.get(FUNCTION, name) is not None:
                raise ResourceConflictException(f"Function already exist: {name}")
            self.store.put(FUNCTION, name, {"name": name, "tags": tags, "next_version": 1,
                                            "created": config["LastModified"]})
            self.store.put(VERSION, version_key(name, LATEST), config)
            for hook in self.create_hooks:
                hook(name, p)
            shown = public(config)
            if p.get("Publish"):
                published = self._publish(name, config, None)
                shown["Version"] = published["Version"]
        self._background(self.activate(name))
        return shown

    def _optional_fields(self, config: Doc, p: dict[str, Any]) -> None:
        for key in ("DeadLetterConfig", "KMSKeyArn", "FileSystemConfigs", "ImageConfig"):
            if p.get(key):
                config[key if key != "ImageConfig" else "ImageConfigResponse"] = (
                    p[key] if key != "ImageConfig" else {"ImageConfig": p[key]})
        vpc = p.get("VpcConfig")
        if vpc and (vpc.get("SubnetIds") or vpc.get("SecurityGroupIds")):
            config["VpcConfig"] = {"SubnetIds": vpc.get("SubnetIds", []),
                                   "SecurityGroupIds": vpc.get("SecurityGroupIds", []),
                                   "VpcId": vpc.get("VpcId", ""),
                                   "Ipv6AllowedForDualStack": vpc.get("Ipv6AllowedForDualStack", False)}
        elif vpc is not None and "VpcConfig" in config:
            # Detaching keeps an empty VpcConfig (recorded: test_vpc_config).
            config["VpcConfig"] = {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": "",
                                   "Ipv6AllowedForDualStack": False}

    def _logging(self, given: dict[str, Any] | None, name: str) -> dict[str, Any]:
        logging_config = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
        if given:
            logging_config.update(given)
            if logging_config["LogFormat"] == "JSON":
                logging_config.setdefault("ApplicationLogLevel", "INFO")
                logging_config.setdefault("SystemLogLevel", "INFO")
        return logging_config

    def _runtime_version_arn(self, runtime: str | None) -> str:
        digest = hashlib.sha256(f"lamina:{runtime}".encode()).hexdigest()
        return f"arn:{self.arns.partition}:lambda:{self.arns.region}::runtime:{digest}"

    def _package(self, code: dict[str, Any]) -> Package:
        data = code.get("ZipFile")
        if data is None and code.get("S3Bucket"):
            data = self.fetch_s3(code["S3Bucket"], code["S3Key"], code.get("S3ObjectVersion"))
        if data is None:
            raise InvalidParameterValueException(
                "Please provide a source for function code.")
        return store_package(self.blobs, data)

    def fetch_s3(self, bucket: str, key: str, version: str | None) -> bytes:
        """Replaced by the server with a fetcher for the configured S3 endpoint."""
        raise InvalidParameterValueException(
            "Error occurred while GetObject. S3 Error Code: ServiceUnavailable. S3 Error Message: "
            "no S3-compatible endpoint is configured (--aws-endpoint-url).")

    def _layers(self, arns: list[str] | None, runtime: str | None,
                code_unzipped: int) -> list[dict[str, Any]]:
        """The wire `Layers` list; the 250 MB unzipped limit counts the code and the layers."""
        if not arns:
            return []
        if self.layer_resolver is None:
            raise InvalidParameterValueException("Layers are not supported by this server.")
        return self.layer_resolver(arns, runtime, code_unzipped)

    # -- background state transitions ----------------------------------------------------

    def _background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def activate(self, name: str) -> None:
        """Finish Pending/InProgress work: unpack the code, then mark the versions ready."""
        try:
            for _, doc in self.store.scan(VERSION, f"{name}/"):
                if doc.get("_code"):
                    await asyncio.to_thread(self.code.ensure, doc["_code"])
        except Exception:
            log.exception("unpacking the code of %s failed", name)
            self._finish(name, failed=True)
            return
        self._finish(name, failed=False)

    def _finish(self, name: str, failed: bool) -> None:
        with self.store.transaction():
            for key, doc in self.store.scan(VERSION, f"{name}/"):
                changed = False
                if doc.get("State") == "Pending":
                    doc["State"] = "Failed" if failed else "Active"
                    for k in ("StateReason", "StateReasonCode"):
                        doc.pop(k, None)
                    if failed:
                        doc["StateReason"] = "The deployment package could not be unpacked."
                        doc["StateReasonCode"] = "InvalidZipFileException"
                    doc["LastUpdateStatus"] = "Failed" if failed else "Successful"
                    changed = True
                elif doc.get("LastUpdateStatus") == "InProgress":
                    doc["LastUpdateStatus"] = "Failed" if failed else "Successful"
                    for k in ("LastUpdateStatusReason", "LastUpdateStatusReasonCode"):
                        doc.pop(k, None)
                    changed = True
                if changed:
                    if doc["Version"] == LATEST:
                        doc["RevisionId"] = new_revision()
                    self.store.put(VERSION, key, doc)
                    self._notify(name, doc["Version"])

    def _notify(self, name: str, version: str | None) -> None:
        for listener in self.listeners:
            listener(name, version)

    # -- read -------------------------------------------------------------------------------

    def get_configuration(self, function_name: str, qualifier: str | None) -> Doc:
        target = self.resolve.target(function_name, qualifier)
        config = public(self.resolve.config(target))
        if target.qualifier is not None:
            config["FunctionArn"] = self.arns.function(target.name, target.qualifier)
        return config

    def get(self, function_name: str, qualifier: str | None) -> tuple[Doc, Doc, Target]:
        target = self.resolve.target(function_name, qualifier)
        config = self.resolve.config(target)
        return self.resolve.function(target.name), config, target

    def list_all(self, all_versions: bool) -> list[Doc]:
        out = []
        for _, doc in self.store.scan(VERSION):
            if doc["Version"] != LATEST and not all_versions:
                continue
            entry = {k: v for k, v in public(doc).items() if k not in _LIST_OMITS}
            if all_versions:
                entry["FunctionArn"] = self.arns.function(doc["FunctionName"], doc["Version"])
            out.append(entry)
        return out

    def list_versions(self, function_name: str) -> list[Doc]:
        name = self.resolve.ref(function_name)[0].name
        self.resolve.function(name)
        out = []
        for _, doc in self.store.scan(VERSION, f"{name}/"):
            # Like ListFunctions, without state fields (recorded: test_version_lifecycle).
            entry = {k: v for k, v in public(doc).items() if k not in _LIST_OMITS}
            entry["FunctionArn"] = self.arns.function(name, doc["Version"])
            out.append(entry)
        return out

    # -- update -----------------------------------------------------------------------------

    def _latest_for_update(self, function_name: str) -> tuple[str, Doc]:
        ref, qualifier = self.resolve.ref(function_name)
        name = ref.name
        self.resolve.function(name)
        doc = self.resolve.version(name, LATEST)
        if doc is None:
            raise self.resolve.not_found(name)
        if doc.get("LastUpdateStatus") == "InProgress" or doc.get("State") == "Pending":
            raise ResourceConflictException(
                "The operation cannot be performed at this time. An update is in progress for "
                f"resource: {self.arns.function(name)}")
        return name, doc

    def _mark_updating(self, doc: Doc) -> None:
        doc["LastModified"] = timestamp()
        doc["LastUpdateStatus"] = "InProgress"
        doc["LastUpdateStatusReason"] = "The function is being created."
        doc["LastUpdateStatusReasonCode"] = "Creating"
        doc["RevisionId"] = new_revision()

    def update_code(self, p: dict[str, Any]) -> Doc:
        name, doc = self._latest_for_update(p["FunctionName"])
        stale(p.get("RevisionId"), doc["RevisionId"])
        for check in self.code_checks:
            check(name)
        if p.get("ImageUri") and doc.get("PackageType", "Zip") == "Zip":
            raise InvalidParameterValueException(
                "Please don't provide ImageUri when updating a function with packageType Zip.")
        package = self._package(p)
        if p.get("DryRun"):
            preview = public(doc)
            preview.update(CodeSha256=package.sha256_b64, CodeSize=package.size)
            return preview
        doc.update(CodeSha256=package.sha256_b64, CodeSize=package.size, _code=package.digest,
                   _unzipped=package.unzipped_size)
        if p.get("Architectures"):
            doc["Architectures"] = p["Architectures"]
        self._mark_updating(doc)
        with self.store.transaction():
            self.store.put(VERSION, version_key(name, LATEST), doc)
            shown = public(doc)
            if p.get("Publish"):
                # The new version is Pending until its code is unpacked, as on AWS
                # (recorded: test_publish_with_update, test_lambda_versions_with_code_changes).
                shown = public(self._publish(name, doc, None, pending=True))
        self._background(self.activate(name))
        return shown

    def update_configuration(self, p: dict[str, Any]) -> Doc:
        name, doc = self._latest_for_update(p["FunctionName"])
        stale(p.get("RevisionId"), doc["RevisionId"])
        if "Runtime" in p:
            check_runtime(p["Runtime"])
        if "Environment" in p:
            variables = (p["Environment"] or {}).get("Variables") or {}
            env_size_check(variables)
            doc["Environment"] = {"Variables": variables}
        if "Layers" in p:
            layers = self._layers(p["Layers"], p.get("Runtime", doc.get("Runtime")),
                                  doc.get("_unzipped", 0))
            if layers:
                doc["Layers"] = layers
            else:
                doc.pop("Layers", None)
        for key in ("Role", "Handler", "Description", "Timeout", "MemorySize", "Runtime",
                    "TracingConfig", "EphemeralStorage", "KMSKeyArn", "FileSystemConfigs"):
            if key in p:
                doc[key] = p[key]
        if "DeadLetterConfig" in p:
            if (p["DeadLetterConfig"] or {}).get("TargetArn"):
                doc["DeadLetterConfig"] = p["DeadLetterConfig"]
            else:
                doc.pop("DeadLetterConfig", None)
        if "VpcConfig" in p:
            self._optional_fields(doc, {"VpcConfig": p["VpcConfig"]})
        if "LoggingConfig" in p:
            doc["LoggingConfig"] = self._logging(p["LoggingConfig"], name)
        if "SnapStart" in p:
            doc["SnapStart"] = {"ApplyOn": p["SnapStart"].get("ApplyOn", "None"),
                                "OptimizationStatus": "Off"}
        if "Runtime" in p:
            doc["RuntimeVersionConfig"] = {"RuntimeVersionArn": self._runtime_version_arn(p["Runtime"])}
        self._mark_updating(doc)
        self.store.put(VERSION, version_key(name, LATEST), doc)
        self._background(self.activate(name))
        return public(doc)

    # -- versions ---------------------------------------------------------------------------

    @staticmethod
    def _snapshot(doc: Doc) -> str:
        picked = {k: doc.get(k) for k in _SNAPSHOT_FIELDS}
        return hashlib.sha256(json.dumps(picked, sort_keys=True).encode()).hexdigest()

    def _publish(self, name: str, latest: Doc, description: str | None,
                 pending: bool = False) -> Doc:
        """Snapshot $LATEST as a new version unless the newest version already is it."""
        snapshot = self._snapshot(latest)
        versions = [d for _, d in self.store.scan(VERSION, f"{name}/") if d["Version"] != LATEST]
        if versions and versions[-1].get("_snapshot") == snapshot:
            return versions[-1]
        function = self.store.get(FUNCTION, name) or {}
        number = str(function.get("next_version", 1))
        function["next_version"] = int(number) + 1
        version = dict(latest)
        version.update(Version=number, FunctionArn=self.arns.function(name, number),
                       RevisionId=new_revision(), LastModified=timestamp(), _snapshot=snapshot)
        if description is not None:
            version["Description"] = description
        for k in ("LastUpdateStatusReason", "LastUpdateStatusReasonCode"):
            version.pop(k, None)
        if pending:
            version.update(State="Pending", StateReason="The function is being created.",
                           StateReasonCode="Creating")
            version.pop("LastUpdateStatus", None)
        elif latest.get("State") != "Pending":
            version["State"] = "Active"
            version["LastUpdateStatus"] = "Successful"
            version.pop("StateReason", None)
            version.pop("StateReasonCode", None)
        self.store.put(FUNCTION, name, function)
        self.store.put(VERSION, version_key(name, number), version)
        latest["RevisionId"] = new_revision()
        self.store.put(VERSION, version_key(name, LATEST), latest)
        return version

    def publish_version(self, p: dict[str, Any]) -> Doc:
        ref, _ = self.resolve.ref(p["FunctionName"])
        name = ref.name
        with self.store.transaction():
            self.resolve.function(name)
            latest = self.resolve.version(name, LATEST)
            if latest is None:
                raise self.resolve.not_found(name)
            sha = p.get("CodeSha256")
            if sha is not None and sha != latest["CodeSha256"]:
                raise InvalidParameterValueException(
                    f"CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST "
                    f"({latest['CodeSha256']}). Please try again with the CodeSHA256 in $LATEST.")
            stale(p.get("RevisionId"), latest["RevisionId"])
            if latest.get("LastUpdateStatus") == "InProgress":
                raise ResourceConflictException(
                    "The operation cannot be performed at this time. An update is in progress for "
                    f"resource: {self.arns.function(name)}")
            version = self._publish(name, latest, p.get("Description"))
        return public(version)

    # -- delete -----------------------------------------------------------------------------

    def delete(self, function_name: str, qualifier: str | None) -> None:
        ref, qualifier = self.resolve.ref(function_name, qualifier)
        name = ref.name
        if qualifier == LATEST:
            raise InvalidParameterValueException(
                "$LATEST version cannot be deleted without deleting the function.")
        self.resolve.function(name)
        with self.store.transaction():
            if qualifier is None:
                for kind in (VERSION, ALIAS):
                    self.store.delete_prefix(kind, f"{name}/")
                for kind in self.dependent_kinds:
                    self.store.delete_prefix(kind, f"{name}/")
                    self.store.delete(kind, name)
                self.store.delete(FUNCTION, name)
            else:
                self._delete_version(name, qualifier)
        self._notify(name, qualifier)

    def register_dependent(self, kind: str,
                           on_version_delete: Callable[[str, str], None] | None = None) -> None:
        """Another control module keeps documents of `kind` keyed "<function>[/…]".

        DeleteFunction removes them with the function; `on_version_delete(name, version)`
        runs before a version is deleted and may refuse by raising (provisioned
        concurrency) or clean up after it (policies, event invoke configs).
        """
        if kind not in self.dependent_kinds:
            self.dependent_kinds.append(kind)
        if on_version_delete is not None:
            self.version_delete_guards.append(on_version_delete)

    def _delete_version(self, name: str, version: str) -> None:
        for guard in self.version_delete_guards:
            guard(name, version)
        self.store.delete(VERSION, version_key(name, version))

    # -- tags -------------------------------------------------------------------------------

    def _tagged(self, resource: str) -> tuple[str, str, Doc]:
        """The function a TaggableResource ARN names (unqualified only), for `self.tags`."""
        ref = FunctionRef.parse(resource)
        if ref.qualifier is not None:
            raise InvalidParameterValueException(
                "Tags on function aliases and versions are not supported. Please specify a function ARN.")
        function = self.store.get(FUNCTION, ref.name)
        if function is None:
            raise ResourceNotFoundException(f"Function not found: {resource}")
        return FUNCTION, ref.name, function
