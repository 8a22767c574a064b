"""Code signing configs, their attachment to functions, and the deployment check.

A config is one document of kind `code_signing_config` keyed by its id
(``csc-`` + 17 lower-case hex digits); its wire shape is AWS's
`CodeSigningConfig` and its tags live in the internal `_tags` field. A
function's attachment is one document of kind `function_code_signing`
keyed by the function name, removed with the function.

Lamina has no AWS Signer: it cannot verify a signature, so every package it
receives counts as unsigned. With ``UntrustedArtifactOnDeployment=Enforce``
AWS refuses unsigned code, and so does Lamina: CreateFunction and
UpdateFunctionCode fail with 400 `CodeVerificationFailedException` and the
text AWS answers for unsigned code ("Lambda cannot deploy the function. …
Check the provided signature for <function>."). With ``Warn`` the deployment
goes ahead and Lamina logs the warning (where AWS emits a metric and a
CloudTrail event).

Messages follow AWS (recorded): a missing config is a 404
`ResourceNotFoundException` *without* `Type` ("The Lambda code signing
configuration <arn> can not be found."), except on Put/CreateFunction, where
it is a `CodeSigningConfigNotFoundException`.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from lamina.arns import Arns
from lamina.control.functions import Functions
from lamina.control.resolve import FUNCTION, timestamp
from lamina.control.tags import TagSet, tag_limit_check
from lamina.errors import (
    LaminaError,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lamina.store.base import Doc

log = logging.getLogger("lamina.control")

CODE_SIGNING_CONFIG = "code_signing_config"
FUNCTION_CODE_SIGNING = "function_code_signing"


class CodeSigningConfigNotFoundException(LaminaError):
    code = "CodeSigningConfigNotFoundException"
    status = 404
    message_field = "Message"


class CodeVerificationFailedException(LaminaError):
    code = "CodeVerificationFailedException"
    status = 400
    message_field = "Message"


class _ConfigNotFound(ResourceNotFoundException):
    """AWS answers a missing code signing config with a body that has no `Type`."""

    has_type = False


def _not_found(arn: str) -> ResourceNotFoundException:
    return _ConfigNotFound(f"The Lambda code signing configuration {arn} can not be found.")


def _attach_not_found(arn: str) -> CodeSigningConfigNotFoundException:
    return CodeSigningConfigNotFoundException(
        "The code signing configuration cannot be found. Check that the provided configuration "
        f"is not deleted: {arn}.")


def unsigned_code(target: str) -> CodeVerificationFailedException:
    """What AWS answers when Enforce meets code without an acceptable signature."""
    return CodeVerificationFailedException(
        "Lambda cannot deploy the function. The function or layer might be signed using a "
        "signature that the client is not configured to accept. Check the provided signature "
        f"for {target}.")


def config_id(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


class CodeSigning:
    """Validation and state of code signing configs. Methods run on the event loop."""

    def __init__(self, functions: Functions) -> None:
        self.functions = functions
        self.store = functions.store
        self.resolve = functions.resolve
        self.arns: Arns = functions.arns
        self.tags = TagSet(self.store, "_tags", self._tagged)
        # An attachment goes with its function (DeleteFunction).
        functions.register_dependent(FUNCTION_CODE_SIGNING)
        # CreateFunction's CodeSigningConfigArn and the check of every new package.
        functions.create_hooks.append(self._function_created)
        functions.code_checks.append(self._check_code)

    def arn(self, csc_id: str) -> str:
        return (f"arn:{self.arns.partition}:lambda:{self.arns.region}:{self.arns.account}"
                f":code-signing-config:{csc_id}")

    # -- configs ----------------------------------------------------------------------------

    def create(self, p: dict[str, Any]) -> Doc:
        tags = p.get("Tags") or {}
        tag_limit_check(len(tags))
        csc_id = "csc-" + secrets.token_hex(9)[:17]
        doc: Doc = {
            "CodeSigningConfigId": csc_id,
            "CodeSigningConfigArn": self.arn(csc_id),
            "Description": p.get("Description") or "",
            "AllowedPublishers": {"SigningProfileVersionArns":
                                  list(p["AllowedPublishers"]["SigningProfileVersionArns"])},
            "CodeSigningPolicies": {"UntrustedArtifactOnDeployment": (
                (p.get("CodeSigningPolicies") or {}).get("UntrustedArtifactOnDeployment") or "Warn")},
            "LastModified": timestamp(),
            "_tags": dict(tags),
        }
        self.store.put(CODE_SIGNING_CONFIG, csc_id, doc)
        return _shown(doc)

    def get(self, arn: str) -> Doc:
        return _shown(self._existing(arn))

    def list_configs(self) -> list[Doc]:
        return [_shown(doc) for _, doc in self.store.scan(CODE_SIGNING_CONFIG)]

    def update(self, p: dict[str, Any]) -> Doc:
        """Replace the members given; an update without any still answers the config."""
        with self.store.transaction():
            doc = self._existing(p["CodeSigningConfigArn"])
            if p.get("Description") is not None:
                doc["Description"] = p["Description"]
            if p.get("AllowedPublishers") is not None:
                doc["AllowedPublishers"] = {"SigningProfileVersionArns": list(
                    p["AllowedPublishers"]["SigningProfileVersionArns"])}
            policy = (p.get("CodeSigningPolicies") or {}).get("UntrustedArtifactOnDeployment")
            if policy is not None:
                doc["CodeSigningPolicies"] = {"UntrustedArtifactOnDeployment": policy}
            doc["LastModified"] = timestamp()
            self.store.put(CODE_SIGNING_CONFIG, doc["CodeSigningConfigId"], doc)
        return _shown(doc)

    def delete(self, arn: str) -> None:
        """Refused (409) while a function uses the config, as AWS documents."""
        with self.store.transaction():
            doc = self._existing(arn)
            if self.functions_using(doc["CodeSigningConfigArn"]):
                raise ResourceConflictException(
                    f"The code signing configuration {arn} cannot be deleted because it is "
                    "used by one or more functions.")
            self.store.delete(CODE_SIGNING_CONFIG, doc["CodeSigningConfigId"])

    def functions_using(self, arn: str) -> list[str]:
        """The unqualified ARNs of the functions a config is attached to (checked to exist)."""
        self._existing(arn)
        return [self.arns.function(name) for name, doc in self.store.scan(FUNCTION_CODE_SIGNING)
                if doc.get("CodeSigningConfigArn") == arn]

    # -- attachment -------------------------------------------------------------------------

    def put_function(self, function_name: str, arn: str) -> Doc:
        """Attach a config; the config is checked before the function (recorded order)."""
        with self.store.transaction():
            if self._find(arn) is None:
                raise _attach_not_found(arn)
            name = self._function(function_name)
            self.store.put(FUNCTION_CODE_SIGNING, name, {"CodeSigningConfigArn": arn})
        return {"CodeSigningConfigArn": arn, "FunctionName": name}

    def get_function(self, function_name: str) -> Doc:
        """The attachment, or an empty answer for a function without one (recorded)."""
        name = self._function(function_name)
        doc = self.store.get(FUNCTION_CODE_SIGNING, name)
        if doc is None:
            return {}
        return {"CodeSigningConfigArn": doc["CodeSigningConfigArn"], "FunctionName": name}

    def delete_function(self, function_name: str) -> None:
        """Detach; a function without a config answers 204 as well (recorded)."""
        name = self._function(function_name)
        self.store.delete(FUNCTION_CODE_SIGNING, name)

    # -- tags -------------------------------------------------------------------------------

    def _tagged(self, resource: str) -> tuple[str, str, Doc]:
        doc = self._existing(resource)
        return CODE_SIGNING_CONFIG, doc["CodeSigningConfigId"], doc

    # -- deployment hooks (called by Functions) ---------------------------------------------

    def _function_created(self, name: str, p: dict[str, Any]) -> None:
        """CreateFunction's `CodeSigningConfigArn`: attach it and check the new package.

        Runs inside CreateFunction's transaction, so a refusal leaves no function behind.
        """
        arn = p.get("CodeSigningConfigArn")
        if not arn:
            return
        config = self._find(arn)
        if config is None:
            raise _attach_not_found(arn)
        self._enforce(config, name, name)
        self.store.put(FUNCTION_CODE_SIGNING, name, {"CodeSigningConfigArn": arn})

    def _check_code(self, name: str) -> None:
        """UpdateFunctionCode of a function with a config: the new package is unsigned."""
        attached = self.store.get(FUNCTION_CODE_SIGNING, name)
        if attached is None:
            return
        config = self._find(attached["CodeSigningConfigArn"])
        if config is not None:
            self._enforce(config, name, self.arns.function(name))

    @staticmethod
    def _enforce(config: Doc, name: str, shown: str) -> None:
        if config["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"] == "Enforce":
            raise unsigned_code(shown)
        log.warning("code signing (Warn): deploying unsigned code to %s; config %s",
                    name, config["CodeSigningConfigArn"])

    # -- helpers ----------------------------------------------------------------------------

    def _find(self, arn: str) -> Doc | None:
        doc = self.store.get(CODE_SIGNING_CONFIG, config_id(arn))
        # The id is unique; the ARN must still name this region and account.
        if doc is None or doc["CodeSigningConfigArn"] != arn:
            return None
        return doc

    def _existing(self, arn: str) -> Doc:
        doc = self._find(arn)
        if doc is None:
            raise _not_found(arn)
        return doc

    def _function(self, function_name: str) -> str:
        """The existing function a request names (a qualifier, if any, is ignored)."""
        ref = self.resolve.ref(function_name)[0]
        if self.store.get(FUNCTION, ref.name) is None:
            raise self.resolve.not_found(ref.name)
        return ref.name


def _shown(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if not k.startswith("_")}
