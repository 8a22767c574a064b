"""Edge cases of the control-plane APIs and Invoke, checked against responses recorded from AWS.

Every expected value below is what real AWS Lambda answered in a recording of LocalStack's
Lambda suite (tests/aws/services/lambda_/*.snapshot.json, tests marked validated against
AWS). Each test names its recording as `<file>::<test>, <snapshot key>`; "api" stands for
test_lambda_api.snapshot.json and "lambda" for test_lambda.snapshot.json. The tests cover
what the public conformance suite does not check.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, Server, make_zip

ACCOUNT = "000000000000"
PREFIX = f"arn:aws:lambda:us-east-1:{ACCOUNT}"
ECHO = "def handler(event, context):\n    return event\n"
NOTHING = "def handler(event, context):\n    return None\n"
NO_RESOURCE = "The resource you requested does not exist."


def fn_arn(name: str, qualifier: str | None = None) -> str:
    return f"{PREFIX}:function:{name}" + (f":{qualifier}" if qualifier else "")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def expect(call: Callable[[], Any], code: str, status: int, message: str | None = None,
           field: str | None = None) -> dict[str, Any]:
    """The error response of `call`, checked; `field` is the body member holding the text."""
    with pytest.raises(ClientError) as exc:
        call()
    resp: dict[str, Any] = exc.value.response
    assert (resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    if message is not None:
        assert resp["Error"]["Message"] == message
    if field is not None:
        assert resp.get(field) == resp["Error"]["Message"]
    return resp


@pytest.fixture(scope="module")
def nv(server: Server):  # type: ignore[no-untyped-def]
    """A client without botocore's parameter validation (the recordings were made so)."""
    return server.client(parameter_validation=False)


@pytest.fixture(scope="module")
def published(lambda_client) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A function with version 1 and alias `live` -> 1, shared by the read-only tests."""
    name = unique("rec")
    lambda_client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                                  Handler="handler.handler",
                                  Code={"ZipFile": make_zip({"handler.py": ECHO})})
    lambda_client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    lambda_client.publish_version(FunctionName=name)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    yield name
    lambda_client.delete_function(FunctionName=name)


@pytest.fixture
def fn(create_function) -> str:  # type: ignore[no-untyped-def]
    name = unique("rec")
    create_function(name, {"handler.py": ECHO})
    return name


# -- permissions --------------------------------------------------------------------------------

def test_permission_errors(lambda_client, published):
    # api::test_permission_exceptions, get_policy_fn_doesnotexist
    expect(lambda: lambda_client.get_policy(FunctionName=unique("doesnotexist")),
           "ResourceNotFoundException", 404, NO_RESOURCE, "Message")
    s3 = {"Action": "lambda:InvokeFunction", "StatementId": "s3", "Principal": "s3.amazonaws.com"}
    # ... add_permission_fn_alias_doesnotexist / add_permission_fn_qualifier_valid_doesnotexist
    expect(lambda: lambda_client.add_permission(FunctionName=f"{published}:alias-doesnotexist", **s3),
           "ResourceNotFoundException", 404,
           f"Cannot find alias arn: {fn_arn(published, 'alias-doesnotexist')}", "Message")
    expect(lambda: lambda_client.add_permission(FunctionName=published,
                                                Qualifier="valid-with-$-but-doesnotexist", **s3),
           "ResourceNotFoundException", 404,
           f"Function not found: {fn_arn(published, 'valid-with-$-but-doesnotexist')}", "Message")
    # ... remove_permission_fn_doesnotexist
    expect(lambda: lambda_client.remove_permission(FunctionName="doesnotexist", StatementId="s3"),
           "ResourceNotFoundException", 404, f"No policy found for: {fn_arn('doesnotexist')}")


def test_permission_revision_on_alias(lambda_client, fn):
    # api::test_lambda_permission_fn_versioning, add_permission_alias_revision_exception
    lambda_client.publish_version(FunctionName=fn)
    lambda_client.create_alias(FunctionName=fn, Name="permission-alias", FunctionVersion="1")
    expect(lambda: lambda_client.add_permission(
        FunctionName=fn, Qualifier="permission-alias", StatementId="s3",
        Action="lambda:InvokeFunction", Principal="s3.amazonaws.com", RevisionId="wrong"),
        "PreconditionFailedException", 412,
        "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API "
        "to retrieve the latest Revision Id", "message")


# -- function URL configs -----------------------------------------------------------------------

def test_url_config_qualifier_errors(lambda_client, nv, published):
    # api::test_url_config_exceptions (all four operations answer alike)
    pattern = "((?!^\\d+$)^[0-9a-zA-Z-_]+$)"
    for op, extra in (("create_function_url_config", {"AuthType": "NONE"}),
                      ("update_function_url_config", {"AuthType": "AWS_IAM"})):
        call = getattr(nv, op)
        for qualifier in ("1", "$LATEST"):
            expect(partial(call, FunctionName=published, Qualifier=qualifier, **extra),
                   "ValidationException", 400,
                   f"1 validation error detected: Value '{qualifier}' at 'qualifier' failed to "
                   f"satisfy constraint: Member must satisfy regular expression pattern: {pattern}")
        expect(partial(call, FunctionName=published, Qualifier="v1", **extra),
               "ResourceNotFoundException", 404, "Function does not exist", "Message")
        expect(partial(call, FunctionName=f"{published}:live-doesnotmatch", Qualifier="live", **extra),
               "InvalidParameterValueException", 400,
               "The derived qualifier from the function name does not match the specified qualifier.",
               "message")
    expect(lambda: lambda_client.delete_function_url_config(FunctionName=published, Qualifier="v1"),
           "ResourceNotFoundException", 404, NO_RESOURCE, "Message")
    # api::test_url_config_list_paging, list_function_notfound
    expect(lambda: lambda_client.list_function_url_configs(FunctionName="doesnotexist"),
           "ResourceNotFoundException", 404, "Function does not exist", "Message")


def test_url_update_echoes_invoke_mode_once_set(lambda_client, fn):
    # lambda::test_lambda_update_function_url_config, modify_lambda_url_config_none
    created = lambda_client.create_function_url_config(FunctionName=fn, AuthType="NONE",
                                                       InvokeMode="BUFFERED")
    assert created["InvokeMode"] == "BUFFERED"
    lambda_client.update_function_url_config(FunctionName=fn, InvokeMode="RESPONSE_STREAM")
    untouched = lambda_client.update_function_url_config(FunctionName=fn)
    assert untouched["InvokeMode"] == "RESPONSE_STREAM"
    # api::test_url_config_lifecycle, updated_url_config: never set -> not echoed
    other = unique("rec")
    lambda_client.create_function(FunctionName=other, Runtime="python3.12", Role=ROLE,
                                  Handler="handler.handler",
                                  Code={"ZipFile": make_zip({"handler.py": ECHO})})
    try:
        first = lambda_client.create_function_url_config(FunctionName=other, AuthType="NONE")
        assert "InvokeMode" not in first
        updated = lambda_client.update_function_url_config(FunctionName=other, AuthType="AWS_IAM")
        assert "InvokeMode" not in updated and updated["AuthType"] == "AWS_IAM"
    finally:
        lambda_client.delete_function(FunctionName=other)


# -- event invoke configs -----------------------------------------------------------------------

def test_event_invoke_config_errors(lambda_client, published):
    # api::test_lambda_eventinvokeconfig_exceptions
    arn = fn_arn(published)
    missing = fn_arn("doesnotexist")
    put = lambda_client.put_function_event_invoke_config
    expect(lambda: put(FunctionName=published, DestinationConfig={"OnSuccess": {"Destination": missing}}),
           "InvalidParameterValueException", 400, f"The destination ARN {missing} is invalid.", "message")
    expect(lambda: put(FunctionName=published, DestinationConfig={"OnSuccess": {"Destination": arn}}),
           "InvalidParameterValueException", 400,
           "You can't specify the function as a destination for itself.", "message")
    iam = arn.replace(":lambda:", ":iam:")
    expect(lambda: put(FunctionName=published, DestinationConfig={"OnSuccess": {"Destination": iam}}),
           "InvalidParameterValueException", 400,
           f"The provided destination config DestinationConfig(onSuccess=OnSuccess(destination={iam}), "
           "onFailure=null) is invalid.", "message")
    mismatch = "The derived qualifier from the function name does not match the specified qualifier."
    for name, qualifier in ((f"{published}:1", "$LATEST"), (f"{published}:$LATEST", "1"),
                            (f"{published}:1", "live"), (fn_arn(published, "live"), "livex")):
        expect(partial(put, FunctionName=name, Qualifier=qualifier, MaximumRetryAttempts=1),
               "InvalidParameterValueException", 400, mismatch, "message")
    expect(lambda: put(FunctionName=published, Qualifier="livedoesnotexist", MaximumRetryAttempts=1),
           "ResourceNotFoundException", 404, "The function doesn't exist.", "Message")
    expect(lambda: lambda_client.get_function_event_invoke_config(FunctionName=published,
                                                                  Qualifier="doesnotexist"),
           "ResourceNotFoundException", 404,
           f"The function {arn}:doesnotexist doesn't have an EventInvokeConfig", "Message")
    expect(lambda: lambda_client.delete_function_event_invoke_config(FunctionName="doesnotexist"),
           "ResourceNotFoundException", 404,
           f"The function {missing}:$LATEST doesn't have an EventInvokeConfig", "Message")
    expect(lambda: lambda_client.list_function_event_invoke_configs(FunctionName="doesnotexist"),
           "ResourceNotFoundException", 404, "The function doesn't exist.", "Message")


# -- reserved and provisioned concurrency -------------------------------------------------------

def test_provisioned_concurrency_lookup_errors(lambda_client, published):
    # api::test_provisioned_concurrency_exceptions
    missing = fn_arn("doesnotexist")
    expect(lambda: lambda_client.get_provisioned_concurrency_config(FunctionName="doesnotexist",
                                                                    Qualifier="noalias"),
           "ResourceNotFoundException", 404, f"Cannot find alias arn: {missing}:noalias", "Message")
    expect(lambda: lambda_client.put_provisioned_concurrency_config(
        FunctionName="doesnotexist", Qualifier="noalias", ProvisionedConcurrentExecutions=1),
        "ResourceNotFoundException", 404, f"Cannot find alias arn: {missing}:noalias", "Message")
    expect(lambda: lambda_client.put_provisioned_concurrency_config(
        FunctionName="doesnotexist", Qualifier="1", ProvisionedConcurrentExecutions=1),
        "ResourceNotFoundException", 404, f"Function not found: {missing}:1", "Message")
    expect(lambda: lambda_client.delete_provisioned_concurrency_config(FunctionName="doesnotexist",
                                                                       Qualifier="1"),
           "ResourceNotFoundException", 404, f"Function not found: {missing}:1", "Message")
    expect(lambda: lambda_client.delete_provisioned_concurrency_config(FunctionName=published,
                                                                       Qualifier="$LATEST"),
           "InvalidParameterValueException", 400,
           "The function resource provided must be an alias or a published version.", "message")
    # ... delete_provisioned_config_doesnotexist: deleting a config that is not there is a 204
    resp = lambda_client.delete_provisioned_concurrency_config(FunctionName=published, Qualifier="1")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_concurrency_limits(lambda_client, published):
    # api::test_function_concurrency_exceptions, ..._doesnotexist_and_invalid_concurrency
    expect(lambda: lambda_client.put_function_concurrency(FunctionName="doesnotexist",
                                                          ReservedConcurrentExecutions=0),
           "ResourceNotFoundException", 404,
           f"Function not found: {fn_arn('doesnotexist')}:$LATEST", "Message")
    limit = lambda_client.get_account_settings()["AccountLimit"]["ConcurrentExecutions"]
    below = ("Specified ReservedConcurrentExecutions for function decreases account's "
             "UnreservedConcurrentExecution below its minimum value of [")
    # api::test_function_concurrency_limits (the minimum is account specific)
    for value in (limit + 1, limit):
        resp = expect(partial(lambda_client.put_function_concurrency,
                              FunctionName=published, ReservedConcurrentExecutions=value),
            "InvalidParameterValueException", 400)
        assert resp["Error"]["Message"].startswith(below)
    # api::test_provisioned_concurrency_limits
    expect(lambda: lambda_client.put_provisioned_concurrency_config(
        FunctionName=published, Qualifier="1", ProvisionedConcurrentExecutions=limit + 1),
        "InvalidParameterValueException", 400,
        f"Specified ConcurrentExecutions for function is greater than account's unreserved "
        f"concurrency [{limit}].", "message")


# -- aliases ------------------------------------------------------------------------------------

def test_alias_routing_and_naming_errors(lambda_client, nv, published):
    # api::test_notfound_and_invalid_routingconfigs, routing_config_exc_version_latest
    expect(lambda: nv.create_alias(FunctionName=published, Name="custom", FunctionVersion="1",
                                   RoutingConfig={"AdditionalVersionWeights": {"$LATEST": 0.5}}),
           "ValidationException", 400,
           "1 validation error detected: Value '{$LATEST=0.5}' at 'routingConfig."
           "additionalVersionWeights' failed to satisfy constraint: Map keys must satisfy "
           "constraint: [Member must have length less than or equal to 1024, Member must have "
           "length greater than or equal to 1, Member must satisfy regular expression pattern: "
           "[0-9]+]")
    # ... routing_config_exc_fn_doesnotexist: the missing function is named with the version
    expect(lambda: lambda_client.create_alias(
        FunctionName=f"{published}-unknown", Name="custom", FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}}),
        "ResourceNotFoundException", 404, f"Function not found: {fn_arn(published)}-unknown:1",
        "Message")
    # ... target_version_doesnotexist / routing_config_exc_version_doesnotexist
    expect(lambda: lambda_client.create_alias(FunctionName=published, Name="custom",
                                              FunctionVersion="10"),
           "ResourceNotFoundException", 404, f"Function not found: {fn_arn(published, '10')}")
    # api::test_alias_naming, create_alias_number_exception
    expect(lambda: nv.create_alias(FunctionName=published, Name="2024", FunctionVersion="1"),
           "ValidationException", 400,
           "1 validation error detected: Value '2024' at 'name' failed to satisfy constraint: "
           "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)")


def test_alias_shapes(lambda_client, fn):
    lambda_client.publish_version(FunctionName=fn)
    # api::test_notfound_and_invalid_routingconfigs, create_alias_empty_routingconfig / create-alias-latest
    empty = lambda_client.create_alias(FunctionName=fn, Name="custom-empty-routingconfig",
                                       FunctionVersion="1",
                                       RoutingConfig={"AdditionalVersionWeights": {}})
    assert "RoutingConfig" not in empty
    latest = lambda_client.create_alias(FunctionName=fn, Name="custom-latest", FunctionVersion="$LATEST")
    assert latest["ResponseMetadata"]["HTTPStatusCode"] == 201 and latest["Description"] == ""
    # api::test_alias_naming, create_alias_date
    dated = lambda_client.create_alias(FunctionName=fn, Name="2024-01-02", FunctionVersion="1")
    assert dated["AliasArn"] == fn_arn(fn, "2024-01-02")
    assert lambda_client.invoke(FunctionName=f"{fn}:2024-01-02")["ExecutedVersion"] == "1"


# -- layers -------------------------------------------------------------------------------------

def test_layer_policy_and_version_errors(lambda_client, nv):
    # api::test_layer_policy_exceptions and test_layer_exceptions
    layer = unique("reclayer")
    published = lambda_client.publish_layer_version(
        LayerName=layer, Content={"ZipFile": make_zip({"python/x.py": "x = 1\n"})})
    layer_arn = published["LayerArn"]
    try:
        for missing, version in ((f"{layer}-doesnotexist", 1), (layer, 2)):
            text = f"Layer version {PREFIX}:layer:{missing}:{version} does not exist."
            expect(partial(lambda_client.get_layer_version_policy, LayerName=missing,
                           VersionNumber=version),
                   "ResourceNotFoundException", 404, text, "Message")
            expect(partial(lambda_client.remove_layer_version_permission,
                           LayerName=missing, VersionNumber=version, StatementId="s1"),
                "ResourceNotFoundException", 404, text, "Message")
        expect(lambda: lambda_client.get_layer_version_policy(LayerName=layer, VersionNumber=1),
               "ResourceNotFoundException", 404,
               "No policy is associated with the given resource.", "Message")
        expect(lambda: nv.delete_layer_version(LayerName=layer, VersionNumber=-1),
               "InvalidParameterValueException", 400, "Layer Version Cannot be less than 1", "message")
        expect(lambda: lambda_client.get_layer_version_by_arn(Arn=f"{layer_arn}:2"),
               "ResourceNotFoundException", 404, NO_RESOURCE, "Message")
        gone = lambda_client.delete_layer_version(LayerName="layerdoesnotexist", VersionNumber=1)
        assert gone["ResponseMetadata"]["HTTPStatusCode"] == 204
        assert lambda_client.list_layer_versions(LayerName="layerdoesnotexist")["LayerVersions"] == []
    finally:
        lambda_client.delete_layer_version(LayerName=layer, VersionNumber=1)


def test_layer_references_of_a_function(lambda_client, fn):
    # api::test_layer_function_exceptions
    layer = unique("reclayer")
    content = {"ZipFile": make_zip({"python/x.py": "x = 1\n"})}
    v1 = lambda_client.publish_layer_version(LayerName=layer, Content=content)["LayerVersionArn"]
    v2 = lambda_client.publish_layer_version(LayerName=layer, Content=content)["LayerVersionArn"]
    try:
        same = ("Two different versions of the same layer are not allowed to be referenced in the "
                "same function. {} and {} are versions of the same layer.")
        for layers, pair in (([v1, v2], (v1, v2)), ([v1, v1], (v1, v1))):
            expect(partial(lambda_client.update_function_configuration, FunctionName=fn, Layers=layers),
                   "InvalidParameterValueException", 400, same.format(*pair), "message")
        absent = f"{PREFIX}:layer:{layer}:9"
        expect(lambda: lambda_client.update_function_configuration(FunctionName=fn, Layers=[absent]),
               "InvalidParameterValueException", 400, f"Layer version {absent} does not exist.",
               "message")
    finally:
        for version in (1, 2):
            lambda_client.delete_layer_version(LayerName=layer, VersionNumber=version)


# -- tags ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, text", [("event-source-mapping", "Event source mapping not found"),
                                        ("capacity-provider", "Capacity provider not found")])
def test_tags_of_missing_resources(lambda_client, kind, text):
    # api::test_tag_exceptions[event_source_mapping] and [capacity_provider]
    resource = f"{PREFIX}:{kind}:{uuid.uuid4()}"
    for call in (lambda: lambda_client.tag_resource(Resource=resource, Tags={"A": "B"}),
                 lambda: lambda_client.untag_resource(Resource=resource, TagKeys=["A"]),
                 lambda: lambda_client.list_tags(Resource=resource)):
        expect(call, "ResourceNotFoundException", 404, f"{text}: {resource}", "Message")
    # ... aliased_arn_exception: only functions take a qualifier
    expect(lambda: lambda_client.list_tags(Resource=f"{resource}:alias"), "ValidationException", 400)


# -- event source mappings ----------------------------------------------------------------------

def test_event_source_mapping_validation_order(lambda_client, fn):
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:somequeue"
    # api::test_event_source_mapping_exceptions, destination_config_failure (before the function)
    expect(lambda: lambda_client.create_event_source_mapping(
        FunctionName="doesnotexist", EventSourceArn=queue,
        DestinationConfig={"OnSuccess": {"Destination": f"{queue}2"}}),
        "InvalidParameterValueException", 400,
        "Unsupported DestinationConfig parameter for given event source mapping type.", "message")
    # api::test_create_event_source_self_managed, missing-source-access-configuration
    expect(lambda: lambda_client.create_event_source_mapping(
        FunctionName=fn, Topics=["topic"], StartingPosition="TRIM_HORIZON",
        SelfManagedEventSource={"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["kafka:1000"]}}),
        "InvalidParameterValueException", 400,
        "Required 'sourceAccessConfigurations' parameter is missing.", "message")


def test_event_source_mapping_shapes(lambda_client, fn):
    lambda_client.publish_version(FunctionName=fn)
    lambda_client.create_alias(FunctionName=fn, Name="myalias", FunctionVersion="1")
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{unique('q')}"
    # api::test_function_name_variations: FunctionArn keeps the qualifier as given
    for given, shown in ((fn, fn_arn(fn)), (f"{fn}:$LATEST", fn_arn(fn, "$LATEST")),
                         (f"{fn}:1", fn_arn(fn, "1")), (fn_arn(fn, "myalias"), fn_arn(fn, "myalias"))):
        created = lambda_client.create_event_source_mapping(FunctionName=given, EventSourceArn=queue)
        assert (created["ResponseMetadata"]["HTTPStatusCode"], created["FunctionArn"],
                created["State"], created["StateTransitionReason"]) == (202, shown, "Creating",
                                                                         "USER_INITIATED")
        lambda_client.delete_event_source_mapping(UUID=created["UUID"])
    # api::test_create_event_filter_criteria_validation, response-with-empty-filters
    stream = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t/stream/2024-01-01T00:00:00.000"
    created = lambda_client.create_event_source_mapping(
        FunctionName=fn, EventSourceArn=stream, StartingPosition="LATEST",
        FilterCriteria={"Filters": []})
    try:
        assert "FilterCriteria" not in created
        assert (created["BatchSize"], created["MaximumRetryAttempts"],
                created["DestinationConfig"]) == (100, -1, {"OnFailure": {}})
    finally:
        lambda_client.delete_event_source_mapping(UUID=created["UUID"])


# -- invoke -------------------------------------------------------------------------------------

JACKSON_AT = ("\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); "
              "line: 1, column: {}]")


@pytest.mark.parametrize("payload, detail", [
    # lambda::test_lambda_invoke_payload_encoding_error[body-...], invoke_function_invalid_payload_body
    (b"n\x87r\x9e\xe9\xb5\xd7I\xee\x9bmt", "Invalid UTF-8 start byte 0x87" + JACKSON_AT.format(3)),
    # ...[message-...], invoke_function_invalid_payload_message
    (b"\x99\xeb,j\x07\xa1zYh",
     "Unexpected character ((CTRL-CHAR, code 153)): expected a valid value (JSON String, Number, "
     "Array, Object or token 'null', 'true' or 'false')" + JACKSON_AT.format(1)),
])
def test_invoke_payload_that_is_not_utf8(lambda_client, published, payload, detail):
    expect(lambda: lambda_client.invoke(FunctionName=published, Payload=payload),
           "InvalidRequestContentException", 400,
           "Could not parse request body into json: Could not parse payload into json: " + detail,
           "message")


def test_invoke_without_return_value(lambda_client, create_function):
    # lambda::test_invocation_type_no_return_payload[python-RequestResponse] and [python-Event]
    name = unique("rec")
    create_function(name, {"handler.py": NOTHING})
    sync = lambda_client.invoke(FunctionName=name)
    assert (sync["StatusCode"], sync["ExecutedVersion"], sync["Payload"].read()) == (200, "$LATEST",
                                                                                    b"null")
    queued = lambda_client.invoke(FunctionName=name, InvocationType="Event")
    assert (queued["StatusCode"], queued["Payload"].read()) == (202, b"")
    # lambda::test_invoke_exceptions, invoke_function_doesnotexist
    expect(lambda: lambda_client.invoke(FunctionName="doesnotexist", Payload=json.dumps({})),
           "ResourceNotFoundException", 404, f"Function not found: {fn_arn('doesnotexist')}:$LATEST",
           "Message")
