"""CreateFunction/Update*/Get*/List*/PublishVersion against AWS's own recordings.

Every expected value comes from a recording of real AWS: LocalStack's
`tests/aws/services/lambda_/test_lambda_api.snapshot.json` (the test and snapshot
key are named in each test), or, where noted, AWS answers quoted verbatim by users
in public issue threads. The account id and names are ours.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, Server, make_zip

ECHO = "def handler(event, context):\n    return event\n"
ACCOUNT = "000000000000"
REGION = "us-east-1"
# Runtimes AWS accepts, as its enum error lists them (test_create_lambda_exceptions).
ACCEPTED = ("nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, nodejs24.x, "
            "nodejs22.x, java25, python3.10, python3.11, java21, ruby3.3, ruby3.4, ruby3.2, "
            "python3.8, python3.9, java17, nodejs16.x, dotnet10, dotnet8, java11, dotnet6, "
            "nodejs18.x, provided.al2, java8.al2")
CREATE_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?")
GET_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?")
STATE_FIELDS = {"State", "StateReason", "StateReasonCode", "LastUpdateStatus",
                "LastUpdateStatusReason", "LastUpdateStatusReasonCode", "RuntimeVersionConfig"}


def fname(prefix: str = "rec") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def arn(name: str, qualifier: str | None = None) -> str:
    base = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


@pytest.fixture(scope="module")
def raw_client(server: Server):  # type: ignore[no-untyped-def]
    """Client-side validation off, as in the recordings of invalid requests."""
    return server.client(parameter_validation=False)


def error_of(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as exc:
        call()
    return exc.value.response  # type: ignore[no-any-return]


def expect(call: Any, code: str, status: int, message: str | None) -> dict[str, Any]:
    resp = error_of(call)
    assert resp["Error"]["Code"] == code, resp
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == status, resp
    assert resp["Error"]["Message"] == message, resp["Error"]["Message"]
    return resp


def create_args(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"FunctionName": fname(), "Runtime": "python3.12", "Role": ROLE,
                            "Handler": "handler.handler",
                            "Code": {"ZipFile": make_zip({"handler.py": ECHO})}}
    args.update(overrides)
    return args


# -- runtimes ------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["non-existent-runtime", "PYTHON3.9"])
def test_unknown_runtime_lists_the_runtimes_aws_accepts(raw_client, create_function, runtime):
    # test_create_lambda_exceptions / test_update_lambda_exceptions: invalid_runtime_exc,
    # uppercase_runtime_exc (message and lower-case `message` body field).
    text = (f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum "
            f"value set: [{ACCEPTED}] or be a valid ARN")
    resp = expect(lambda: raw_client.create_function(**create_args(Runtime=runtime)),
                  "InvalidParameterValueException", 400, text)
    assert resp["message"] == text and resp["Type"] == "User"
    name = fname()
    create_function(name, {"handler.py": ECHO})
    expect(lambda: raw_client.update_function_configuration(FunctionName=name, Runtime=runtime),
           "InvalidParameterValueException", 400, text)


def test_runtimes_in_deprecation_are_still_accepted(raw_client, create_function):
    # test_create_lambda_exceptions, invalid_zip_exc: a python3.9 function with a bad zip gets
    # the zip error, not the deprecation one; test_function_revisions_basic updates to python3.8.
    expect(lambda: raw_client.create_function(**create_args(
        Runtime="python3.9", Code={"ZipFile": b"this is not a zipfile, just a random string"})),
        "InvalidParameterValueException", 400,
        "Could not unzip uploaded file. Please check your file, then try to upload again.")
    name = fname()
    create_function(name, {"handler.py": ECHO})
    updated = raw_client.update_function_configuration(FunctionName=name, Runtime="python3.8")
    assert updated["Runtime"] == "python3.8" and updated["LastUpdateStatus"] == "InProgress"


@pytest.mark.parametrize("runtime", ["java8", "go1.x", "provided", "ruby2.7", "nodejs14.x",
                                     "python3.7", "dotnetcore3.1", "nodejs12.x"])
def test_blocked_runtimes(raw_client, runtime):
    # test_create_deprecated_function_runtime_with_validation_enabled[<runtime>]
    expect(lambda: raw_client.create_function(**create_args(Runtime=runtime)),
           "InvalidParameterValueException", 400,
           f"The runtime parameter of {runtime} is no longer supported for creating or updating "
           "AWS Lambda functions. We recommend you use a supported runtime while creating or "
           "updating functions.")


# -- model validation as AWS words it ---------------------------------------------------------


def test_list_item_violations_quote_every_item_constraint(raw_client):
    # test_create_lambda_exceptions, uppercase_architecture.
    expect(lambda: raw_client.create_function(**create_args(Architectures=["X86_64"])),
           "ValidationException", 400,
           "1 validation error detected: Value '[X86_64]' at 'architectures' failed to satisfy "
           "constraint: Member must satisfy constraint: [Member must satisfy enum value set: "
           "[x86_64, arm64], Member must not be null]")


@pytest.mark.parametrize("member,value,shown,pattern", [
    ("SubnetIds", "bad-format-1234", "subnetIds", "subnet-[0-9a-z]*"),
    ("SecurityGroupIds", "bad-format-1234", "securityGroupIds", "sg-[0-9a-zA-Z]*"),
])
def test_vpc_id_formats(raw_client, member, value, shown, pattern):
    # test_invalid_vpc_config_subnet / _security_group: create-response-invalid-format-*.
    vpc = {"SubnetIds": ["subnet-0123"], "SecurityGroupIds": ["sg-0123"], member: [value]}
    expect(lambda: raw_client.create_function(**create_args(VpcConfig=vpc)),
           "ValidationException", 400,
           f"1 validation error detected: Value '[{value}]' at 'vpcConfig.{shown}' failed to "
           "satisfy constraint: Member must satisfy constraint: [Member must have length less "
           "than or equal to 1024, Member must have length greater than or equal to 0, Member "
           f"must satisfy regular expression pattern: {pattern}]")


def test_function_name_patterns_admit_sovereign_regions(raw_client):
    # test_function_arns, invalid_function_name_exc; test_function_name_and_qualifier_validation
    # [invalid_characters_in_function_name-get_function].
    expect(lambda: raw_client.create_function(**create_args(FunctionName="invalid:function:name")),
           "ValidationException", 400,
           "1 validation error detected: Value 'invalid:function:name' at 'functionName' failed "
           f"to satisfy constraint: Member must satisfy regular expression pattern: {CREATE_NAME_PATTERN}")
    expect(lambda: raw_client.get_function(FunctionName="my-function!"),
           "ValidationException", 400,
           "1 validation error detected: Value 'my-function!' at 'functionName' failed to satisfy "
           f"constraint: Member must satisfy regular expression pattern: {GET_NAME_PATTERN}")


def test_each_broken_constraint_of_a_name_is_reported(raw_client):
    # test_function_name_and_qualifier_validation
    # [function_name_too_long_and_invalid_region-create_function]: Count 2.
    value = f"arn:aws:lambda:invalid-region:{ACCOUNT}:function:my-function{'a' * 170}"
    resp = error_of(lambda: raw_client.create_function(**create_args(FunctionName=value)))
    prefix = f"Value '{value}' at 'functionName' failed to satisfy constraint: "
    assert resp["Error"]["Code"] == "ValidationException"
    assert resp["Error"]["Message"] == (
        "2 validation errors detected: " + prefix + "Member must have length less than or equal "
        "to 140; " + prefix + f"Member must satisfy regular expression pattern: {CREATE_NAME_PATTERN}")


def test_layer_arn_without_version(raw_client, create_function):
    # test_layer_function_exceptions, add_layer_arn_without_version_exc.
    name = fname()
    create_function(name, {"handler.py": ECHO})
    layer = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{fname('layer')}"
    expect(lambda: raw_client.update_function_configuration(FunctionName=name, Layers=[layer]),
           "ValidationException", 400,
           f"1 validation error detected: Value '[{layer}]' at 'layers' failed to satisfy "
           "constraint: Member must satisfy constraint: [Member must have length less than or "
           "equal to 2048, Member must have length greater than or equal to 1, Member must "
           "satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}"
           r"((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|"
           "(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+), Member must not be null]")


def test_snapstart_apply_on(raw_client):
    # test_snapstart_exceptions, create_function_invalid_snapstart_apply.
    expect(lambda: raw_client.create_function(**create_args(
        Runtime="java21", Handler="x.Handler", SnapStart={"ApplyOn": "invalidOption"})),
        "ValidationException", 400,
        "1 validation error detected: Value 'invalidOption' at 'snapStart.applyOn' failed to "
        "satisfy constraint: Member must satisfy enum value set: [PublishedVersions, None]")


def test_environment_names(raw_client, create_function):
    # Not in LocalStack's recordings: AWS's answers as users quote them, e.g.
    # github.com/trek10inc/serverless-secrets/issues/39 (invalid name, value left out) and
    # github.com/mattermost/mattermost-cloud-monitoring/pull/264 (reserved key).
    name = fname()
    create_function(name, {"handler.py": ECHO})
    expect(lambda: raw_client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"a": "1"}}),
        "ValidationException", 400,
        "1 validation error detected: Value at 'environment.variables' failed to satisfy "
        "constraint: Map keys must satisfy constraint: [Member must satisfy regular expression "
        "pattern: [a-zA-Z]([a-zA-Z0-9_])+]")
    expect(lambda: raw_client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"AWS_REGION": "x", "OK": "1",
                                                      "AWS_SECRET_ACCESS_KEY": "y"}}),
        "InvalidParameterValueException", 400,
        "Lambda was unable to configure your environment variables because the environment "
        "variables you have provided contains reserved keys that are currently not supported for "
        "modification. Reserved keys used in this request: AWS_REGION, AWS_SECRET_ACCESS_KEY")


# -- names, accounts, packages ---------------------------------------------------------------


def test_create_in_another_account_is_denied(raw_client):
    # test_function_arns, function_arn_other_account_exc: 403, Message null, no Type.
    other = f"arn:aws:lambda:{REGION}:123456789012:function:{fname()}"
    resp = expect(lambda: raw_client.create_function(**create_args(FunctionName=other)),
                  "AccessDeniedException", 403, None)
    assert "Type" not in resp


def test_image_uri_on_a_zip_function(lambda_client, create_function):
    # test_lambda_zip_file_to_image, zipfile-to-image-error.
    name = fname()
    create_function(name, {"handler.py": ECHO})
    expect(lambda: lambda_client.update_function_code(
        FunctionName=name, ImageUri=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/repo:latest"),
        "InvalidParameterValueException", 400,
        "Please don't provide ImageUri when updating a function with packageType Zip.")


# -- response shapes ------------------------------------------------------------------------


def test_vpc_detach_keeps_an_empty_vpc_config(lambda_client, create_function):
    # test_vpc_config: delete_vpcconfig_update_response / delete_vpcconfig_get_function_response
    # (VpcId is EC2's and cannot be known here).
    name = fname()
    create_function(name, {"handler.py": ECHO},
                    VpcConfig={"SubnetIds": ["subnet-0123"], "SecurityGroupIds": ["sg-0123"]})
    empty = {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": "", "Ipv6AllowedForDualStack": False}
    upd = lambda_client.update_function_configuration(
        FunctionName=name, VpcConfig={"SubnetIds": [], "SecurityGroupIds": []})
    assert upd["VpcConfig"] == empty
    lambda_client.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    assert lambda_client.get_function(FunctionName=name)["Configuration"]["VpcConfig"] == empty


def test_list_versions_entries_have_no_state(lambda_client, create_function):
    # test_publish_version_on_create, list_versions_result: like ListFunctions, the entries
    # carry no State*/LastUpdateStatus*/RuntimeVersionConfig.
    name = fname()
    create_function(name, {"handler.py": ECHO}, Publish=True)
    versions = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    assert [(v["Version"], v["FunctionArn"]) for v in versions] == [
        ("$LATEST", arn(name, "$LATEST")), ("1", arn(name, "1"))]
    for entry in versions:
        assert not STATE_FIELDS & set(entry), entry
        assert {"SnapStart", "LoggingConfig", "EphemeralStorage", "RevisionId"} <= set(entry)


def test_update_code_with_publish_answers_with_the_pending_version(lambda_client, create_function):
    # test_publish_with_update, update_function_code_result (also
    # test_lambda_versions_with_code_changes, update_lambda_response_with_publish).
    name = fname()
    create_function(name, {"handler.py": ECHO})
    resp = lambda_client.update_function_code(
        FunctionName=name, ZipFile=make_zip({"handler.py": ECHO + "# v2\n"}), Publish=True)
    assert resp["Version"] == "1" and resp["FunctionArn"] == arn(name, "1")
    assert (resp["State"], resp["StateReason"], resp["StateReasonCode"]) == (
        "Pending", "The function is being created.", "Creating")
    assert "LastUpdateStatus" not in resp
    lambda_client.get_waiter("function_active_v2").wait(
        FunctionName=name, Qualifier="1", WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    conf = lambda_client.get_function(FunctionName=name, Qualifier="1")["Configuration"]
    assert (conf["State"], conf["LastUpdateStatus"]) == ("Active", "Successful")
    assert not {"StateReason", "StateReasonCode"} & set(conf)
