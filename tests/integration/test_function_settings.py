"""Recursion and runtime management configs against a real server."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

CODE = {"handler.py": "def handler(event, context):\n    return event\n"}
ACCOUNT_ARN = "arn:aws:lambda:us-east-1:000000000000:function"
RUNTIME_VERSION = ("arn:aws:lambda:us-east-1::runtime:"
                   "8eeff65f6809a3ce81507fe733fe09b835899b99481ba22fd75b5a7338290ec1")


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    resp = exc.value.response
    return resp["Error"]["Code"], resp["Error"]["Message"], resp["ResponseMetadata"]["HTTPStatusCode"]


def test_recursion_config(lambda_client, create_function):  # type: ignore[no-untyped-def]
    name = f"rec-{uuid.uuid4().hex[:8]}"
    create_function(name, CODE)
    got = lambda_client.get_function_recursion_config(FunctionName=name)
    assert got["RecursiveLoop"] == "Terminate"           # the default (recorded)
    put = lambda_client.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    assert (put["RecursiveLoop"], put["ResponseMetadata"]["HTTPStatusCode"]) == ("Allow", 200)
    assert lambda_client.get_function_recursion_config(
        FunctionName=f"{ACCOUNT_ARN}:{name}")["RecursiveLoop"] == "Allow"

    with pytest.raises(ClientError) as exc:
        lambda_client.put_function_recursion_config(FunctionName=name, RecursiveLoop="InvalidValue")
    code, message, status = _error(exc)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("1 validation error detected: Value 'InvalidValue' at 'recursiveLoop' "
                              "failed to satisfy constraint: Member must satisfy enum value set: [")

    missing = f"rec-missing-{uuid.uuid4().hex[:6]}"
    for call in (lambda: lambda_client.get_function_recursion_config(FunctionName=missing),
                 lambda: lambda_client.put_function_recursion_config(
                     FunctionName=missing, RecursiveLoop="Allow")):
        with pytest.raises(ClientError) as exc:
            call()
        assert _error(exc) == ("ResourceNotFoundException",
                               f"Function not found: {ACCOUNT_ARN}:{missing}", 404)

    # The setting goes with the function: a new function of the same name starts over.
    lambda_client.delete_function(FunctionName=name)
    create_function(name, CODE)
    assert lambda_client.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"


def test_runtime_management_config(lambda_client, create_function):  # type: ignore[no-untyped-def]
    name = f"rtm-{uuid.uuid4().hex[:8]}"
    create_function(name, CODE)
    got = lambda_client.get_runtime_management_config(FunctionName=name)
    assert got["UpdateRuntimeOn"] == "Auto" and "RuntimeVersionArn" not in got
    assert got["FunctionArn"] == f"{ACCOUNT_ARN}:{name}"

    put = lambda_client.put_runtime_management_config(
        FunctionName=name, UpdateRuntimeOn="Manual", RuntimeVersionArn=RUNTIME_VERSION)
    assert {k: v for k, v in put.items() if k != "ResponseMetadata"} == {
        "UpdateRuntimeOn": "Manual", "FunctionArn": f"{ACCOUNT_ARN}:{name}",
        "RuntimeVersionArn": RUNTIME_VERSION}
    got = lambda_client.get_runtime_management_config(FunctionName=name)
    assert (got["UpdateRuntimeOn"], got["RuntimeVersionArn"]) == ("Manual", RUNTIME_VERSION)

    # Per version: a published version has its own setting; an alias addresses its version.
    version = lambda_client.publish_version(FunctionName=name)["Version"]
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    assert lambda_client.get_runtime_management_config(
        FunctionName=name, Qualifier=version)["UpdateRuntimeOn"] == "Auto"
    put = lambda_client.put_runtime_management_config(
        FunctionName=name, Qualifier=version, UpdateRuntimeOn="FunctionUpdate")
    assert put["FunctionArn"] == f"{ACCOUNT_ARN}:{name}:{version}"
    assert "RuntimeVersionArn" not in put
    via_alias = lambda_client.get_runtime_management_config(FunctionName=name, Qualifier="live")
    assert via_alias["UpdateRuntimeOn"] == "FunctionUpdate"
    assert via_alias["FunctionArn"] == f"{ACCOUNT_ARN}:{name}:live"
    assert lambda_client.get_runtime_management_config(
        FunctionName=f"{name}:$LATEST")["UpdateRuntimeOn"] == "Manual"

    # Back to Auto clears the pinned runtime version.
    lambda_client.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="Auto")
    assert "RuntimeVersionArn" not in lambda_client.get_runtime_management_config(FunctionName=name)


def test_runtime_management_errors(lambda_client, create_function):  # type: ignore[no-untyped-def]
    name = f"rtm-err-{uuid.uuid4().hex[:8]}"
    create_function(name, CODE)
    with pytest.raises(ClientError) as exc:
        lambda_client.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="Manual")
    assert _error(exc)[0::2] == ("InvalidParameterValueException", 400)
    with pytest.raises(ClientError) as exc:
        lambda_client.put_runtime_management_config(
            FunctionName=name, UpdateRuntimeOn="Auto", RuntimeVersionArn=RUNTIME_VERSION)
    assert _error(exc)[0::2] == ("InvalidParameterValueException", 400)
    with pytest.raises(ClientError) as exc:
        lambda_client.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="Sometimes")
    code, message, status = _error(exc)
    assert (code, status) == ("ValidationException", 400)
    assert "at 'updateRuntimeOn' failed to satisfy constraint: Member must satisfy enum value set" in message
    with pytest.raises(ClientError) as exc:
        lambda_client.get_runtime_management_config(FunctionName=name, Qualifier="9")
    assert _error(exc) == ("ResourceNotFoundException", f"Function not found: {ACCOUNT_ARN}:{name}:9", 404)
    with pytest.raises(ClientError) as exc:
        lambda_client.get_runtime_management_config(FunctionName="rtm-no-such-function")
    assert _error(exc) == ("ResourceNotFoundException",
                           f"Function not found: {ACCOUNT_ARN}:rtm-no-such-function", 404)

    # Deleting a version drops its setting.
    version = lambda_client.publish_version(FunctionName=name)["Version"]
    lambda_client.put_runtime_management_config(
        FunctionName=name, Qualifier=version, UpdateRuntimeOn="Manual", RuntimeVersionArn=RUNTIME_VERSION)
    lambda_client.delete_function(FunctionName=name, Qualifier=version)
    with pytest.raises(ClientError) as exc:
        lambda_client.get_runtime_management_config(FunctionName=name, Qualifier=version)
    assert _error(exc)[0] == "ResourceNotFoundException"
