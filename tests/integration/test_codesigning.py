"""Code signing configs against a real server, with the shapes and messages AWS records."""

from __future__ import annotations

import re
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, make_zip

PROFILE = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/test"
CODE = {"handler.py": "def handler(event, context):\n    return event\n"}


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int, dict]:
    resp = exc.value.response
    return (resp["Error"]["Code"], resp["Error"]["Message"],
            resp["ResponseMetadata"]["HTTPStatusCode"], resp)


@pytest.fixture
def csc(lambda_client):  # type: ignore[no-untyped-def]
    made: list[str] = []

    def _make(policy: str = "Enforce", **kwargs: object) -> dict:
        config = lambda_client.create_code_signing_config(
            AllowedPublishers={"SigningProfileVersionArns": [PROFILE]},
            CodeSigningPolicies={"UntrustedArtifactOnDeployment": policy}, **kwargs)
        made.append(config["CodeSigningConfig"]["CodeSigningConfigArn"])
        return config

    yield _make
    for arn in made:   # best-effort cleanup: detach what the test left attached, then delete
        try:
            for fn in lambda_client.list_functions_by_code_signing_config(
                    CodeSigningConfigArn=arn)["FunctionArns"]:
                lambda_client.delete_function_code_signing_config(FunctionName=fn)
            lambda_client.delete_code_signing_config(CodeSigningConfigArn=arn)
        except ClientError:
            pass


def test_config_lifecycle_and_function_attachment(lambda_client, csc, create_function):  # type: ignore[no-untyped-def]
    name = f"csc-fn-{uuid.uuid4().hex[:8]}"
    create_function(name, CODE)
    created = csc("Enforce", Description="Testing CodeSigning Config")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    config = created["CodeSigningConfig"]
    assert re.fullmatch(r"csc-[a-z0-9]{17}", config["CodeSigningConfigId"])
    arn = config["CodeSigningConfigArn"]
    assert arn == f"arn:aws:lambda:us-east-1:000000000000:code-signing-config:{config['CodeSigningConfigId']}"
    assert config["AllowedPublishers"] == {"SigningProfileVersionArns": [PROFILE]}
    assert config["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Enforce"}
    assert config["Description"] == "Testing CodeSigning Config"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", config["LastModified"])

    updated = lambda_client.update_code_signing_config(
        CodeSigningConfigArn=arn, CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Warn"})
    assert updated["CodeSigningConfig"]["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Warn"}
    assert updated["CodeSigningConfig"]["Description"] == "Testing CodeSigning Config"
    got = lambda_client.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"]
    assert got == updated["CodeSigningConfig"]
    unchanged = lambda_client.update_code_signing_config(CodeSigningConfigArn=arn)
    assert unchanged["CodeSigningConfig"]["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Warn"}

    listed = lambda_client.list_code_signing_configs()["CodeSigningConfigs"]
    assert arn in [c["CodeSigningConfigArn"] for c in listed]

    assert lambda_client.get_function_code_signing_config(FunctionName=name).keys() == {"ResponseMetadata"}
    assert lambda_client.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == []
    put = lambda_client.put_function_code_signing_config(CodeSigningConfigArn=arn, FunctionName=name)
    assert (put["CodeSigningConfigArn"], put["FunctionName"]) == (arn, name)
    got = lambda_client.get_function_code_signing_config(FunctionName=name)
    assert (got["CodeSigningConfigArn"], got["FunctionName"]) == (arn, name)
    assert lambda_client.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == [
        f"arn:aws:lambda:us-east-1:000000000000:function:{name}"]

    with pytest.raises(ClientError) as exc:   # in use: AWS refuses with 409
        lambda_client.delete_code_signing_config(CodeSigningConfigArn=arn)
    assert _error(exc)[0::2] == ("ResourceConflictException", 409)

    deleted = lambda_client.delete_function_code_signing_config(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lambda_client.delete_code_signing_config(CodeSigningConfigArn=arn)[
        "ResponseMetadata"]["HTTPStatusCode"] == 204


def test_not_found_messages(lambda_client, csc, create_function):  # type: ignore[no-untyped-def]
    name = f"csc-nf-{uuid.uuid4().hex[:8]}"
    create_function(name, CODE)
    arn = csc()["CodeSigningConfig"]["CodeSigningConfigArn"]
    invalid = arn[:-1] + ("x" if arn[-1] != "x" else "y")
    missing_fn = "csc-test-doesnotexist"
    fn_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{missing_fn}"
    csc_missing = f"The Lambda code signing configuration {invalid} can not be found."
    for call in (lambda: lambda_client.delete_code_signing_config(CodeSigningConfigArn=invalid),
                 lambda: lambda_client.get_code_signing_config(CodeSigningConfigArn=invalid),
                 lambda: lambda_client.update_code_signing_config(CodeSigningConfigArn=invalid),
                 lambda: lambda_client.list_functions_by_code_signing_config(CodeSigningConfigArn=invalid)):
        with pytest.raises(ClientError) as exc:
            call()
        code, message, status, resp = _error(exc)
        assert (code, message, status) == ("ResourceNotFoundException", csc_missing, 404)
        assert "Type" not in resp          # as recorded: no Type in this body

    # Detaching from a function without a config is a no-op 204.
    assert lambda_client.delete_function_code_signing_config(FunctionName=name)[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    for call in (lambda: lambda_client.delete_function_code_signing_config(FunctionName=missing_fn),
                 lambda: lambda_client.get_function_code_signing_config(FunctionName=missing_fn),
                 lambda: lambda_client.put_function_code_signing_config(
                     FunctionName=missing_fn, CodeSigningConfigArn=arn)):
        with pytest.raises(ClientError) as exc:
            call()
        code, message, status, resp = _error(exc)
        assert (code, message, status) == ("ResourceNotFoundException", f"Function not found: {fn_arn}", 404)
        assert resp["Type"] == "User"

    attach_missing = ("The code signing configuration cannot be found. Check that the provided "
                      f"configuration is not deleted: {invalid}.")
    for fn in (name, missing_fn):   # the config is checked before the function
        with pytest.raises(ClientError) as exc:
            lambda_client.put_function_code_signing_config(FunctionName=fn, CodeSigningConfigArn=invalid)
        code, message, status, resp = _error(exc)
        assert (code, message, status) == ("CodeSigningConfigNotFoundException", attach_missing, 404)
        assert resp["Type"] == "User"


def test_enforce_refuses_unsigned_code_and_warn_allows_it(lambda_client, csc, create_function):  # type: ignore[no-untyped-def]
    enforce = csc("Enforce")["CodeSigningConfig"]["CodeSigningConfigArn"]
    warn = csc("Warn")["CodeSigningConfig"]["CodeSigningConfigArn"]
    name = f"csc-enf-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError) as exc:
        lambda_client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                                      Handler="handler.handler", Code={"ZipFile": make_zip(CODE)},
                                      CodeSigningConfigArn=enforce)
    code, message, status, _ = _error(exc)
    assert (code, status) == ("CodeVerificationFailedException", 400)
    assert message == ("Lambda cannot deploy the function. The function or layer might be signed "
                       "using a signature that the client is not configured to accept. Check the "
                       f"provided signature for {name}.")
    with pytest.raises(ClientError) as exc:     # nothing was created
        lambda_client.get_function(FunctionName=name)
    assert _error(exc)[0] == "ResourceNotFoundException"

    invalid = enforce[:-1] + ("x" if enforce[-1] != "x" else "y")
    with pytest.raises(ClientError) as exc:
        lambda_client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                                      Handler="handler.handler", Code={"ZipFile": make_zip(CODE)},
                                      CodeSigningConfigArn=invalid)
    assert _error(exc)[0::2] == ("CodeSigningConfigNotFoundException", 404)

    # Warn: created, attached, and it runs.
    create_function(name, CODE, CodeSigningConfigArn=warn)
    assert lambda_client.get_function_code_signing_config(FunctionName=name)["CodeSigningConfigArn"] == warn
    assert lambda_client.invoke(FunctionName=name, Payload=b'{"ok": 1}')["Payload"].read() == b'{"ok": 1}'

    # Switching the function to an Enforce config blocks new code, not the running one.
    lambda_client.put_function_code_signing_config(FunctionName=name, CodeSigningConfigArn=enforce)
    with pytest.raises(ClientError) as exc:
        lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip(CODE))
    code, message, status, _ = _error(exc)
    assert (code, status) == ("CodeVerificationFailedException", 400)
    assert message.endswith(
        f"Check the provided signature for arn:aws:lambda:us-east-1:000000000000:function:{name}.")
    lambda_client.delete_function_code_signing_config(FunctionName=name)
    lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip(CODE))

    # Deleting the function removes its attachment.
    lambda_client.put_function_code_signing_config(FunctionName=name, CodeSigningConfigArn=warn)
    lambda_client.delete_function(FunctionName=name)
    assert lambda_client.list_functions_by_code_signing_config(CodeSigningConfigArn=warn)["FunctionArns"] == []


def test_tags_and_validation(lambda_client, csc):  # type: ignore[no-untyped-def]
    arn = csc("Warn", Tags={"team": "a"})["CodeSigningConfig"]["CodeSigningConfigArn"]
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "a"}
    lambda_client.tag_resource(Resource=arn, Tags={"env": "dev"})
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "a", "env": "dev"}
    lambda_client.untag_resource(Resource=arn, TagKeys=["team"])
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"env": "dev"}
    missing = arn[:-1] + ("x" if arn[-1] != "x" else "y")
    with pytest.raises(ClientError) as exc:
        lambda_client.list_tags(Resource=missing)
    assert _error(exc)[0::2] == ("ResourceNotFoundException", 404)

    plain = lambda_client.create_code_signing_config(
        AllowedPublishers={"SigningProfileVersionArns": [PROFILE]})["CodeSigningConfig"]
    try:
        assert plain["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Warn"}
        assert plain["Description"] == ""
    finally:
        lambda_client.delete_code_signing_config(CodeSigningConfigArn=plain["CodeSigningConfigArn"])

    with pytest.raises(ClientError) as exc:
        lambda_client.create_code_signing_config(
            AllowedPublishers={"SigningProfileVersionArns": [PROFILE]},
            CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Block"})
    code, message, status, _ = _error(exc)
    assert (code, status) == ("ValidationException", 400)
    assert "'codeSigningPolicies.untrustedArtifactOnDeployment'" in message

    csc("Warn")
    page = lambda_client.list_code_signing_configs(MaxItems=1)
    assert len(page["CodeSigningConfigs"]) == 1 and page.get("NextMarker")
    rest = lambda_client.list_code_signing_configs(Marker=page["NextMarker"])["CodeSigningConfigs"]
    assert page["CodeSigningConfigs"][0] not in rest and rest
