import pytest

from lamina.api.validation import Validator
from lamina.errors import ValidationException
from lamina.model import load
from lamina.model.messages import render, summary, violation

V = Validator(load())


def message(shape: str, params: dict) -> str:
    with pytest.raises(ValidationException) as exc:
        V.check(shape, params)
    return exc.value.message


def test_rendering_like_aws():
    assert render(["x86_64", "arm64"]) == "[x86_64, arm64]"
    assert render({"2": 2.0}) == "{2=2.0}"
    assert render(None) == "null"
    assert summary([violation("a", None, "x"), violation("b", 1, "y")]).startswith("2 validation errors detected: ")


def test_pattern_violation():
    text = message("GetFunctionRequest", {"FunctionName": "my-function!"})
    assert text.startswith("1 validation error detected: Value 'my-function!' at 'functionName' failed "
                           "to satisfy constraint: Member must satisfy regular expression pattern: ")


def test_length_and_enum_and_required():
    assert message("GetFunctionRequest", {"FunctionName": "f", "Qualifier": "a" * 129}) == (
        "1 validation error detected: Value '" + "a" * 129 + "' at 'qualifier' failed to satisfy "
        "constraint: Member must have length less than or equal to 128")
    assert message("ListFunctionsRequest", {"FunctionVersion": "invalid"}) == (
        "1 validation error detected: Value 'invalid' at 'functionVersion' failed to satisfy "
        "constraint: Member must satisfy enum value set: [ALL]")
    assert message("UntagResourceRequest", {"Resource": "arn:aws:lambda:us-east-1:000000000000:function:f"}) == (
        "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: "
        "Member must not be null")


def test_map_value_constraints():
    text = message("CreateAliasRequest", {"FunctionName": "f", "Name": "a", "FunctionVersion": "1",
                                          "RoutingConfig": {"AdditionalVersionWeights": {"2": 2.0}}})
    assert text == ("1 validation error detected: Value '{2=2.0}' at 'routingConfig.additionalVersionWeights' "
                    "failed to satisfy constraint: Map value must satisfy constraint: [Member must have "
                    "value less than or equal to 1.0, Member must have value greater than or equal to 0.0, "
                    "Member must not be null]")


def test_valid_input_passes():
    V.check("GetFunctionRequest", {"FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:f:1"})
