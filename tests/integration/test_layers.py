"""Layers through the real server: publish, attach, /opt at run time, errors.

Every function here runs in a real sandbox; the handlers report what they see
under /opt so that order, read-only mounting and imports are checked from inside.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server, make_zip

PROBE = '''
import errno, os

def handler(event, context):
    import layer_a, layer_b
    try:
        open("/opt/written-by-function", "w").close()
        writable = True
    except OSError as exc:
        writable = errno.errorcode.get(exc.errno, str(exc.errno))
    return {"shared": open("/opt/shared.txt").read(),
            "a": layer_a.VALUE, "a_file": layer_a.__file__, "b": layer_b.VALUE,
            "writable": writable, "top": sorted(os.listdir("/opt"))}
'''


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def code(call: Callable[[], Any]) -> tuple[str, str]:
    """The (code, message) of the ClientError that `call` raises."""
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response["Error"]
    return err["Code"], err["Message"]


@pytest.fixture
def publish(lambda_client: Any) -> Iterator[Callable[..., dict]]:
    published: list[tuple[str, int]] = []

    def _publish(name: str, files: dict[str, str | bytes], **kwargs: Any) -> dict:
        resp = lambda_client.publish_layer_version(
            LayerName=name, Content={"ZipFile": make_zip(files)}, **kwargs)
        published.append((name, resp["Version"]))
        return resp

    yield _publish
    for name, version in published:
        lambda_client.delete_layer_version(LayerName=name, VersionNumber=version)


@pytest.fixture
def two_layers(publish: Callable[..., dict]) -> tuple[dict, dict]:
    a = publish(unique("layer-a"), {"python/layer_a.py": 'VALUE = "from-a"\n',
                                    "shared.txt": "A"}, CompatibleRuntimes=["python3.12"])
    b = publish(unique("layer-b"), {"python/layer_b.py": 'VALUE = "from-b"\n',
                                    "shared.txt": "B"}, CompatibleRuntimes=["python3.11"])
    return a, b


def invoke(lambda_client: Any, name: str) -> dict:
    resp = lambda_client.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, body
    return body


def test_layers_in_order_read_only_and_importable(lambda_client: Any, create_function: Any,
                                                  two_layers: tuple[dict, dict],
                                                  server: Server) -> None:
    a, b = two_layers
    ab, ba = unique("fn-ab"), unique("fn-ba")
    resp = create_function(ab, {"handler.py": PROBE},
                           Layers=[a["LayerVersionArn"], b["LayerVersionArn"]])
    assert resp["Layers"] == [{"Arn": a["LayerVersionArn"], "CodeSize": a["Content"]["CodeSize"]},
                              {"Arn": b["LayerVersionArn"], "CodeSize": b["Content"]["CodeSize"]}]
    create_function(ba, {"handler.py": PROBE}, Layers=[b["LayerVersionArn"], a["LayerVersionArn"]])

    first = invoke(lambda_client, ab)
    assert first["shared"] == "B", "the later layer wins"
    assert (first["a"], first["b"]) == ("from-a", "from-b")
    assert first["a_file"] == "/opt/python/layer_a.py"
    assert first["writable"] in ("EROFS", "EACCES"), first
    assert first["top"] == ["python", "shared.txt"]
    assert invoke(lambda_client, ba)["shared"] == "A"

    # A third function with the first one's layer set reuses its unpacked /opt.
    again = unique("fn-ab2")
    create_function(again, {"handler.py": PROBE},
                    Layers=[a["LayerVersionArn"], b["LayerVersionArn"]])
    assert invoke(lambda_client, again)["shared"] == "B"
    opt_root = server.data_dir / "opt"
    before = {p.name for p in opt_root.iterdir()}
    assert len([p for p in before if not p.startswith(".")]) >= 2
    lambda_client.update_function_configuration(
        FunctionName=again, Layers=[b["LayerVersionArn"], a["LayerVersionArn"]])
    lambda_client.get_waiter("function_updated_v2").wait(
        FunctionName=again, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    assert invoke(lambda_client, again)["shared"] == "A"
    assert {p.name for p in opt_root.iterdir()} == before, "the same layer sets, no new /opt"


def test_deleted_layer_version_keeps_working_for_its_functions(
        lambda_client: Any, create_function: Any, publish: Callable[..., dict]) -> None:
    name = unique("layer-gone")
    layer = publish(name, {"python/layer_a.py": 'VALUE = "kept"\n',
                           "python/layer_b.py": 'VALUE = "kept-b"\n', "shared.txt": "K"})
    fn = unique("fn-gone")
    create_function(fn, {"handler.py": PROBE}, Layers=[layer["LayerVersionArn"]])
    lambda_client.delete_layer_version(LayerName=name, VersionNumber=1)
    assert code(lambda: lambda_client.get_layer_version(
        LayerName=name, VersionNumber=1))[0] == "ResourceNotFoundException"
    assert invoke(lambda_client, fn)["a"] == "kept"
    # … but it can no longer be attached anywhere.
    assert code(lambda: lambda_client.update_function_configuration(
        FunctionName=fn, Layers=[layer["LayerVersionArn"]])) == (
        "InvalidParameterValueException",
        f"Layer version {layer['LayerVersionArn']} does not exist.")


def test_function_layer_errors(lambda_client: Any, create_function: Any,
                               publish: Callable[..., dict]) -> None:
    name = unique("layer-err")
    v1 = publish(name, {"x.txt": "1"})["LayerVersionArn"]
    v2 = publish(name, {"x.txt": "2"})["LayerVersionArn"]
    fn = unique("fn-err")
    create_function(fn, {"handler.py": PROBE})

    def update(layers: list[str]) -> tuple[str, str]:
        return code(lambda: lambda_client.update_function_configuration(
            FunctionName=fn, Layers=layers))

    dup = ("Two different versions of the same layer are not allowed to be referenced in the "
           "same function. {} and {} are versions of the same layer.")
    assert update([v1, v2]) == ("InvalidParameterValueException", dup.format(v1, v2))
    assert update([v1, v1]) == ("InvalidParameterValueException", dup.format(v1, v1))
    assert update([f"{v1[:-2]}:9"]) == ("InvalidParameterValueException",
                                        f"Layer version {v1[:-2]}:9 does not exist.")
    other_region = v1.replace("us-east-1", "eu-west-1")
    assert update([other_region]) == (
        "InvalidParameterValueException",
        ("Layers are not in the same region as the function. Layers are expected to be in "
         "region us-east-1."))
    six = [publish(unique(f"layer-{n}"), {"f": str(n)})["LayerVersionArn"] for n in range(6)]
    assert update(six) == ("InvalidParameterValueException", "Cannot reference more than 5 layers.")
    assert lambda_client.get_function_configuration(FunctionName=fn).get("Layers") is None


def test_list_filters_and_pages(lambda_client: Any, publish: Callable[..., dict]) -> None:
    name = unique("layer-list")
    publish(name, {"f": "1"}, CompatibleRuntimes=["python3.12"], CompatibleArchitectures=["x86_64"])
    publish(name, {"f": "2"}, CompatibleRuntimes=["nodejs22.x"], CompatibleArchitectures=["arm64"])
    publish(name, {"f": "3"}, CompatibleRuntimes=["python3.12", "python3.13"],
            CompatibleArchitectures=["arm64"], LicenseInfo="MIT")

    def versions(**filters: str) -> list[int]:
        listed = lambda_client.list_layer_versions(LayerName=name, **filters)["LayerVersions"]
        return [v["Version"] for v in listed]

    assert versions() == [3, 2, 1]
    assert versions(CompatibleRuntime="python3.12") == [3, 1]
    assert versions(CompatibleArchitecture="arm64") == [3, 2]
    assert versions(CompatibleRuntime="python3.12", CompatibleArchitecture="x86_64") == [1]
    assert versions(CompatibleRuntime="java21") == []

    first = lambda_client.list_layer_versions(LayerName=name, MaxItems=2)
    assert [v["Version"] for v in first["LayerVersions"]] == [3, 2]
    rest = lambda_client.list_layer_versions(LayerName=name, MaxItems=2, Marker=first["NextMarker"])
    assert [v["Version"] for v in rest["LayerVersions"]] == [1] and "NextMarker" not in rest

    paginator = lambda_client.get_paginator("list_layers")
    layers = [item for page in paginator.paginate(CompatibleRuntime="nodejs22.x",
                                                  PaginationConfig={"PageSize": 1})
              for item in page["Layers"]]
    mine = [item for item in layers if item["LayerName"] == name]
    assert len(mine) == 1
    assert mine[0]["LatestMatchingVersion"]["Version"] == 2
    assert mine[0]["LayerArn"] == mine[0]["LatestMatchingVersion"]["LayerVersionArn"][:-2]
    item = lambda_client.list_layers(CompatibleRuntime="python3.13")["Layers"]
    latest = next(i["LatestMatchingVersion"] for i in item if i["LayerName"] == name)
    assert latest["Version"] == 3 and latest["LicenseInfo"] == "MIT"
    assert "Content" not in latest


def test_permissions(lambda_client: Any, publish: Callable[..., dict]) -> None:
    name = unique("layer-perm")
    arn = publish(name, {"f": "1"})["LayerVersionArn"]
    added = lambda_client.add_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="acct", Action="lambda:GetLayerVersion",
        Principal="123456789012")
    assert json.loads(added["Statement"]) == {
        "Sid": "acct", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "lambda:GetLayerVersion", "Resource": arn}
    org = lambda_client.add_layer_version_permission(
        LayerName=arn[:-2], VersionNumber=1, StatementId="org", Action="lambda:GetLayerVersion",
        Principal="*", OrganizationId="o-abcdefghij")
    assert json.loads(org["Statement"])["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}
    assert code(lambda: lambda_client.add_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="acct", Action="lambda:GetLayerVersion",
        Principal="*"))[0] == "ResourceConflictException"
    assert code(lambda: lambda_client.remove_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="org", RevisionId="stale")) == (
        "PreconditionFailedException",
        ("The Revision Id provided does not match the latest Revision Id. Call the "
         "GetLayerPolicy API to retrieve the latest Revision Id"))
    assert code(lambda: lambda_client.get_layer_version_policy(
        LayerName=name, VersionNumber=2)) == (
        "ResourceNotFoundException", f"Layer version {arn[:-2]}:2 does not exist.")
    foreign = arn[:-2].replace(":000000000000:", ":111111111111:")
    error, message = code(lambda: lambda_client.add_layer_version_permission(
        LayerName=foreign, VersionNumber=1, StatementId="x", Action="lambda:GetLayerVersion",
        Principal="*"))
    assert error == "AccessDeniedException"
    assert f"lambda:AddLayerVersionPermission on resource: {foreign}:1" in message
    lambda_client.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="acct")
    lambda_client.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="org")
    assert code(lambda: lambda_client.get_layer_version_policy(
        LayerName=name, VersionNumber=1)) == (
        "ResourceNotFoundException", "No policy is associated with the given resource.")


def test_layer_content_download_and_bad_zip(lambda_client: Any, publish: Callable[..., dict]) -> None:
    import urllib.request

    files = {"python/m.py": "X = 1\n"}
    layer = publish(unique("layer-dl"), files)
    with urllib.request.urlopen(layer["Content"]["Location"]) as resp:
        assert resp.read() == make_zip(files)
    assert code(lambda: lambda_client.publish_layer_version(
        LayerName=unique("layer-bad"), Content={"ZipFile": b"not a zip"})) == (
        "InvalidParameterValueException",
        "Could not unzip uploaded file. Please check your file, then try to upload again.")
