"""Resource-based policies through a real server: AddPermission, GetPolicy, RemovePermission."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, make_zip

ECHO = "def handler(event, context):\n    return event\n"
ACCOUNT = "000000000000"


def arn(name: str, qualifier: str | None = None) -> str:
    base = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


def error(call: Callable[[], Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as exc:
        call()
    resp = exc.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


@pytest.fixture
def fn(create_function) -> str:  # type: ignore[no-untyped-def]
    name = f"perm-{uuid.uuid4().hex[:8]}"
    create_function(name, {"handler.py": ECHO})
    return name


def test_statement_shapes_for_every_principal_and_condition(lambda_client, fn):
    def add(**kwargs: Any) -> dict[str, Any]:
        resp = lambda_client.add_permission(FunctionName=fn, Action="lambda:InvokeFunction", **kwargs)
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 201
        assert isinstance(resp["Statement"], str)
        return json.loads(resp["Statement"])

    s3 = add(StatementId="s3", Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::bucket",
             SourceAccount="111122223333")
    assert s3 == {"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                  "Action": "lambda:InvokeFunction", "Resource": arn(fn),
                  "Condition": {"StringEquals": {"AWS:SourceAccount": "111122223333"},
                                "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}}}
    assert add(StatementId="acct", Principal="111122223333")["Principal"] == {
        "AWS": "arn:aws:iam::111122223333:root"}
    user = "arn:aws:iam::111122223333:user/bob"
    assert add(StatementId="user", Principal=user)["Principal"] == {"AWS": user}
    org = add(StatementId="org", Principal="*", PrincipalOrgID="o-1234567890")
    assert org["Principal"] == "*"
    assert org["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-1234567890"}}
    alexa = add(StatementId="alexa", Principal="*", EventSourceToken="amzn1.ask.skill.x")
    assert alexa["Condition"] == {"StringEquals": {"lambda:EventSourceToken": "amzn1.ask.skill.x"}}
    via_url = add(StatementId="via-url", Principal="*", InvokedViaFunctionUrl=True)
    assert via_url["Condition"] == {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}
    url = json.loads(lambda_client.add_permission(
        FunctionName=fn, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
        FunctionUrlAuthType="NONE")["Statement"])
    assert url["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}

    policy = lambda_client.get_policy(FunctionName=fn)
    document = json.loads(policy["Policy"])
    assert document["Version"] == "2012-10-17" and document["Id"] == "default"
    assert [s["Sid"] for s in document["Statement"]] == ["s3", "acct", "user", "org", "alexa",
                                                         "via-url", "url"]


def test_errors(lambda_client, fn):
    base = {"Action": "lambda:InvokeFunction", "StatementId": "s3", "Principal": "s3.amazonaws.com"}
    assert error(lambda: lambda_client.add_permission(FunctionName=fn, Qualifier="$LATEST", **base)) == (
        "InvalidParameterValueException", 400, "We currently do not support adding policies for $LATEST.")
    assert error(lambda: lambda_client.add_permission(
        FunctionName=fn, **{**base, "Principal": "invalid.nonaws.com"}))[2] == (
        "The provided principal was invalid. Please check the principal and try again.")
    assert error(lambda: lambda_client.add_permission(FunctionName="missing-fn-x", **base)) == (
        "ResourceNotFoundException", 404, f"Function not found: {arn('missing-fn-x')}")
    assert error(lambda: lambda_client.add_permission(FunctionName=fn, Qualifier="42", **base))[2] == (
        f"Function not found: {arn(fn, '42')}")
    assert error(lambda: lambda_client.add_permission(FunctionName=fn, Qualifier="nope", **base))[2] == (
        f"Cannot find alias arn: {arn(fn, 'nope')}")
    assert error(lambda: lambda_client.get_policy(FunctionName=fn)) == (
        "ResourceNotFoundException", 404, "The resource you requested does not exist.")
    assert error(lambda: lambda_client.remove_permission(FunctionName=fn, StatementId="s3")) == (
        "ResourceNotFoundException", 404, "No policy is associated with the given resource.")
    assert error(lambda: lambda_client.remove_permission(FunctionName="missing-fn-x", StatementId="s3"))[2] == (
        f"No policy found for: {arn('missing-fn-x')}")

    lambda_client.add_permission(FunctionName=fn, **base)
    assert error(lambda: lambda_client.add_permission(FunctionName=fn, **base)) == (
        "ResourceConflictException", 409, ("The statement id (s3) provided already exists. Please provide "
        "a new statement id, or remove the existing statement."))
    assert error(lambda: lambda_client.remove_permission(FunctionName=fn, StatementId="other")) == (
        "ResourceNotFoundException", 404, "Statement other is not found in resource policy.")


def test_revision_ids(lambda_client, fn):
    lambda_client.add_permission(FunctionName=fn, StatementId="a", Action="lambda:InvokeFunction",
                                 Principal="sns.amazonaws.com")
    first = lambda_client.get_policy(FunctionName=fn)["RevisionId"]
    stale = ("PreconditionFailedException", 412, ("The Revision Id provided does not match the latest "
             "Revision Id. Call the GetPolicy API to retrieve the latest Revision Id"))
    assert error(lambda: lambda_client.add_permission(
        FunctionName=fn, StatementId="b", Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com", RevisionId="wrong")) == stale
    lambda_client.add_permission(FunctionName=fn, StatementId="b", Action="lambda:InvokeFunction",
                                 Principal="sns.amazonaws.com", RevisionId=first)
    second = lambda_client.get_policy(FunctionName=fn)["RevisionId"]
    assert second != first
    assert error(lambda: lambda_client.remove_permission(FunctionName=fn, StatementId="a",
                                                         RevisionId=first)) == stale
    lambda_client.remove_permission(FunctionName=fn, StatementId="a", RevisionId=second)
    lambda_client.remove_permission(FunctionName=fn, StatementId="b")
    assert error(lambda: lambda_client.get_policy(FunctionName=fn))[1] == 404


def test_policies_per_qualifier_and_cleanup(lambda_client, fn):
    lambda_client.publish_version(FunctionName=fn)
    alias = lambda_client.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")
    permission = {"Action": "lambda:InvokeFunction", "StatementId": "s", "Principal": "sqs.amazonaws.com"}
    lambda_client.add_permission(FunctionName=fn, **permission)
    lambda_client.add_permission(FunctionName=f"{fn}:1", **permission)
    # Before an alias has a policy, its own RevisionId is the one to present.
    lambda_client.add_permission(FunctionName=fn, Qualifier="live", RevisionId=alias["RevisionId"],
                                 **permission)
    for qualifier in (None, "1", "live"):
        extra = {"Qualifier": qualifier} if qualifier else {}
        statements = json.loads(lambda_client.get_policy(FunctionName=fn, **extra)["Policy"])["Statement"]
        assert [s["Resource"] for s in statements] == [arn(fn, qualifier)]

    lambda_client.delete_function(FunctionName=fn, Qualifier="1")
    assert error(lambda: lambda_client.get_policy(FunctionName=fn, Qualifier="1"))[1] == 404

    # DeleteFunction takes every policy with it: a function created again under the name has none.
    lambda_client.delete_function(FunctionName=fn)
    lambda_client.create_function(FunctionName=fn, Runtime="python3.12", Role=ROLE,
                                  Handler="handler.handler", Code={"ZipFile": make_zip({"handler.py": ECHO})})
    assert error(lambda: lambda_client.get_policy(FunctionName=fn))[1] == 404


def test_policy_length_limit(lambda_client, fn):
    source = "arn:aws:s3:::" + "b" * 200
    with pytest.raises(ClientError) as exc:
        for i in range(200):
            lambda_client.add_permission(FunctionName=fn, StatementId=f"s{i}", Action="lambda:InvokeFunction",
                                         Principal="s3.amazonaws.com", SourceArn=source)
    err = exc.value.response
    assert err["Error"]["Code"] == "PolicyLengthExceededException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Message"].endswith("is bigger than the limit (20480).")
    assert len(lambda_client.get_policy(FunctionName=fn)["Policy"]) <= 20480

