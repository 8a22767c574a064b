"""Resource-based policies: AddPermission, GetPolicy, RemovePermission, and their evaluation.

Each function has one policy document for the unqualified function and one per
qualifier (a published version or an alias), stored under the kind `policy` with
the key ``<name>`` or ``<name>/<qualifier>``; `$LATEST` has none (AWS refuses it).
A document is ``{"policy": {"Version", "Id", "Statement": [...]}, "revision": <uuid>}``.
The revision is the policy's own RevisionId: AWS (since late 2025) no longer
shares it with the function's configuration, so adding a permission does not
invalidate a RevisionId the caller holds for UpdateFunctionConfiguration.

`allows()` is the small evaluator that function URLs (and anything else that must
honour a resource policy) use: Allow statements only, since AddPermission cannot
create Deny statements.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping
from typing import Any

from lamina.arns import LATEST
from lamina.control.functions import Functions
from lamina.control.resolve import FUNCTION, new_revision
from lamina.errors import (
    InvalidParameterValueException,
    PolicyLengthExceededException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lamina.store.base import Doc

POLICY = "policy"
POLICY_LIMIT = 20 * 1024
STALE_POLICY = ("The Revision Id provided does not match the latest Revision Id. "
                "Call the GetPolicy API to retrieve the latest Revision Id")
_NO_RESOURCE = "The resource you requested does not exist."
# Service principals are DNS-style names under AWS's service domains.
_SERVICE = re.compile(r"[a-z0-9][a-z0-9.-]*\.(?:amazonaws\.com|amazon\.com|amazonaws\.com\.cn)")
_ACCOUNT = re.compile(r"\d{12}")
_IAM_ARN = re.compile(r"arn:aws[a-zA-Z-]*:(?:iam|sts)::\d{12}:.+")
_ALIAS_NAME = re.compile(r"(?!^[0-9]+$)[a-zA-Z0-9-_]+")
_DIGITS = re.compile(r"[0-9]+")


def policy_key(name: str, qualifier: str | None) -> str:
    return name if qualifier is None else f"{name}/{qualifier}"


class Policies:
    """Policy documents of functions; methods run on the event loop."""

    def __init__(self, functions: Functions) -> None:
        self.functions = functions
        self.store = functions.store
        self.resolve = functions.resolve
        self.arns = functions.arns
        # DeleteFunction removes every "<name>" and "<name>/…" policy; a deleted version takes
        # its policy with it (guards run inside the delete's transaction, so a later guard
        # that refuses the deletion rolls this back too).
        functions.register_dependent(POLICY, self._drop_version)

    def _drop_version(self, name: str, version: str) -> None:
        self.store.delete(POLICY, policy_key(name, version))

    def drop(self, name: str, qualifier: str | None) -> None:
        """Forget the policy of a qualifier (called when an alias is deleted)."""
        self.store.delete(POLICY, policy_key(name, qualifier))

    # -- resolution ---------------------------------------------------------------------------

    def _qualified(self, name: str, qualifier: str | None, vague: bool = False) -> None:
        """Check that a qualifier names an existing version or alias.

        AWS words the not-found error by what the qualifier looks like: a missing
        alias is "Cannot find alias arn", anything else "Function not found".
        GetPolicy (`vague`) answers every miss with "The resource you requested…".
        """
        if qualifier is None:
            return
        if _DIGITS.fullmatch(qualifier):
            found = self.resolve.version(name, qualifier) is not None
        else:
            found = self.resolve.alias(name, qualifier) is not None
        if found:
            return
        arn = self.arns.function(name, qualifier)
        if vague:
            raise ResourceNotFoundException(_NO_RESOURCE)
        if _ALIAS_NAME.fullmatch(qualifier):
            raise ResourceNotFoundException(f"Cannot find alias arn: {arn}")
        raise ResourceNotFoundException(f"Function not found: {arn}")

    def _target_revision(self, name: str, qualifier: str | None) -> str | None:
        if qualifier is None:
            doc = self.resolve.version(name, LATEST)
        elif _DIGITS.fullmatch(qualifier):
            doc = self.resolve.version(name, qualifier)
        else:
            doc = self.resolve.alias(name, qualifier)
        return None if doc is None else doc.get("RevisionId")

    # -- AddPermission ------------------------------------------------------------------------

    def add(self, p: dict[str, Any]) -> str:
        """Add one statement; returns it as the JSON string AWS answers with."""
        ref, qualifier = self.resolve.ref(p["FunctionName"], p.get("Qualifier"))
        name = ref.name
        if qualifier == LATEST:
            raise InvalidParameterValueException(
                "We currently do not support adding policies for $LATEST.")
        if self.store.get(FUNCTION, name) is None:
            raise self.resolve.not_found(name, qualifier)
        self._qualified(name, qualifier)
        statement = self.statement(p, self.arns.function(name, qualifier))
        key = policy_key(name, qualifier)
        with self.store.transaction():
            doc = self.store.get(POLICY, key)
            expected = p.get("RevisionId")
            if expected is not None:
                actual = doc["revision"] if doc else self._target_revision(name, qualifier)
                if expected != actual:
                    raise PreconditionFailedException(STALE_POLICY)
            policy: Doc = doc["policy"] if doc else {"Version": "2012-10-17", "Id": "default",
                                                      "Statement": []}
            sid = statement["Sid"]
            if any(s.get("Sid") == sid for s in policy["Statement"]):
                raise ResourceConflictException(
                    f"The statement id ({sid}) provided already exists. Please provide a new "
                    "statement id, or remove the existing statement.")
            policy["Statement"].append(statement)
            size = len(json.dumps(policy, separators=(",", ":")))
            if size > POLICY_LIMIT:
                raise PolicyLengthExceededException(
                    f"The final policy size ({size}) is bigger than the limit ({POLICY_LIMIT}).")
            self.store.put(POLICY, key, {"policy": policy, "revision": new_revision()})
        return json.dumps(statement, separators=(",", ":"))

    def statement(self, p: Mapping[str, Any], resource: str) -> Doc:
        """One policy statement from AddPermission's parameters, in AWS's key order."""
        out: Doc = {"Sid": p["StatementId"], "Effect": "Allow",
                    "Principal": self.principal(p["Principal"]), "Action": p["Action"],
                    "Resource": resource}
        string_equals: dict[str, str] = {}
        if p.get("SourceAccount"):
            string_equals["AWS:SourceAccount"] = p["SourceAccount"]
        if p.get("FunctionUrlAuthType"):
            string_equals["lambda:FunctionUrlAuthType"] = p["FunctionUrlAuthType"]
        if p.get("PrincipalOrgID"):
            string_equals["aws:PrincipalOrgID"] = p["PrincipalOrgID"]
        if p.get("EventSourceToken"):
            string_equals["lambda:EventSourceToken"] = p["EventSourceToken"]
        condition: Doc = {}
        if string_equals:
            condition["StringEquals"] = string_equals
        if p.get("SourceArn"):
            condition["ArnLike"] = {"AWS:SourceArn": p["SourceArn"]}
        if p.get("InvokedViaFunctionUrl"):
            condition["Bool"] = {"lambda:InvokedViaFunctionUrl": "true"}
        if condition:
            out["Condition"] = condition
        return out

    def principal(self, value: str) -> Any:
        if value == "*":
            return "*"
        if _ACCOUNT.fullmatch(value):
            return {"AWS": f"arn:{self.arns.partition}:iam::{value}:root"}
        if _IAM_ARN.fullmatch(value):
            return {"AWS": value}
        if _SERVICE.fullmatch(value):
            return {"Service": value}
        raise InvalidParameterValueException(
            "The provided principal was invalid. Please check the principal and try again.")

    # -- GetPolicy / RemovePermission ---------------------------------------------------------

    def get(self, function_name: str, qualifier: str | None) -> tuple[str, str]:
        """The policy as a JSON string, and its RevisionId."""
        ref, qualifier = self.resolve.ref(function_name, qualifier)
        name = ref.name
        # AWS answers a missing function with the same vague text as a missing policy
        # (recorded: test_permission_exceptions, get_policy_fn_doesnotexist).
        if self.store.get(FUNCTION, name) is None or qualifier == LATEST:
            raise ResourceNotFoundException(_NO_RESOURCE)
        self._qualified(name, qualifier, vague=True)
        doc = self.store.get(POLICY, policy_key(name, qualifier))
        if doc is None or not doc["policy"]["Statement"]:
            raise ResourceNotFoundException(_NO_RESOURCE)
        return json.dumps(doc["policy"], separators=(",", ":")), doc["revision"]

    def remove(self, function_name: str, sid: str, qualifier: str | None,
               revision: str | None) -> None:
        ref, qualifier = self.resolve.ref(function_name, qualifier)
        name = ref.name
        if self.store.get(FUNCTION, name) is None:
            raise ResourceNotFoundException(
                f"No policy found for: {self.arns.function(name, qualifier)}")
        if qualifier == LATEST:
            raise ResourceNotFoundException("No policy is associated with the given resource.")
        self._qualified(name, qualifier)
        key = policy_key(name, qualifier)
        with self.store.transaction():
            doc = self.store.get(POLICY, key)
            if doc is None:
                raise ResourceNotFoundException("No policy is associated with the given resource.")
            if revision is not None and revision != doc["revision"]:
                raise PreconditionFailedException(STALE_POLICY)
            kept = [s for s in doc["policy"]["Statement"] if s.get("Sid") != sid]
            if len(kept) == len(doc["policy"]["Statement"]):
                raise ResourceNotFoundException(f"Statement {sid} is not found in resource policy.")
            if kept:
                doc["policy"]["Statement"] = kept
                doc["revision"] = new_revision()
                self.store.put(POLICY, key, doc)
            else:
                self.store.delete(POLICY, key)

    # -- evaluation ---------------------------------------------------------------------------

    def allows(self, name: str, qualifier: str | None, action: str,
               context: Mapping[str, str], principal: Any = "*") -> bool:
        """Whether the policy of (name, qualifier) grants `action` to `principal`.

        `principal` is "*" for an anonymous caller or a dict such as
        ``{"Service": "s3.amazonaws.com"}``; `context` holds the request's
        condition keys (``lambda:FunctionUrlAuthType`` …), matched
        case-insensitively by key as IAM does. A statement whose condition names
        a key the context lacks does not apply.
        """
        doc = self.store.get(POLICY, policy_key(name, qualifier))
        if doc is None:
            return False
        keys = {k.lower(): v for k, v in context.items()}
        return any(_applies(s, action, principal, keys) for s in doc["policy"]["Statement"])


def _applies(statement: Doc, action: str, principal: Any, context: dict[str, str]) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    granted = statement.get("Action")
    actions = granted if isinstance(granted, list) else [granted]
    if not any(fnmatch.fnmatchcase(action.lower(), str(a).lower()) for a in actions):
        return False
    if not _principal_matches(statement.get("Principal"), principal):
        return False
    for operator, pairs in (statement.get("Condition") or {}).items():
        for key, expected in pairs.items():
            actual = context.get(key.lower())
            if actual is None or not _condition(operator, expected, actual):
                return False
    return True


def _principal_matches(granted: Any, caller: Any) -> bool:
    if granted == "*" or granted == {"AWS": "*"}:
        return True
    if not isinstance(granted, dict) or not isinstance(caller, dict):
        return False
    return any(caller.get(kind) == value for kind, value in granted.items())


def _condition(operator: str, expected: Any, actual: str) -> bool:
    values = expected if isinstance(expected, list) else [expected]
    if operator == "StringEquals":
        return actual in values
    if operator == "Bool":
        return actual.lower() in (str(v).lower() for v in values)
    if operator in ("ArnLike", "StringLike"):
        return any(fnmatch.fnmatchcase(actual, str(v)) for v in values)
    return False   # operators AddPermission never writes
