import re

from hypothesis import given
from hypothesis import strategies as st

from lamina.arns import Arns, FunctionRef, LayerVersionRef, is_version
from lamina.model import load

NAME = st.from_regex(r"[a-zA-Z0-9_-]{1,64}", fullmatch=True)
QUALIFIER = st.one_of(st.none(), st.just("$LATEST"), st.from_regex(r"[0-9]{1,5}", fullmatch=True),
                      st.from_regex(r"[a-zA-Z][a-zA-Z0-9_-]{0,20}", fullmatch=True))
MODEL_PATTERN = re.compile(load().shape("NamespacedFunctionName")["pattern"])


@given(NAME, QUALIFIER)
def test_function_arn_round_trip(name, qualifier):
    arn = Arns("us-east-1", "123456789012").function(name, qualifier)
    assert MODEL_PATTERN.fullmatch(arn)
    ref = FunctionRef.parse(arn)
    assert (ref.name, ref.qualifier, ref.region, ref.account, ref.is_arn) == (
        name, qualifier, "us-east-1", "123456789012", True)


@given(NAME, QUALIFIER)
def test_partial_and_plain_names(name, qualifier):
    suffix = f":{qualifier}" if qualifier else ""
    for value in (f"{name}{suffix}", f"123456789012:function:{name}{suffix}"):
        ref = FunctionRef.parse(value)
        assert (ref.name, ref.qualifier) == (name, qualifier)
        assert not ref.is_arn


def test_arn_without_function_name_names_a_function_called_function():
    assert FunctionRef.parse("arn:aws:lambda:us-east-1:000000000000:function").name == "function"


def test_versions():
    assert is_version("$LATEST") and is_version("12")
    assert not is_version("live") and not is_version("$latest")


@given(NAME, st.integers(min_value=1, max_value=10**6))
def test_layer_arn_round_trip(name, version):
    arn = Arns("eu-west-1", "000000000000").layer(name, version)
    ref = LayerVersionRef.parse(arn)
    assert ref is not None and (ref.name, ref.version, ref.region) == (name, version, "eu-west-1")


def test_partitions():
    assert Arns("cn-north-1", "1" * 12).function("f").startswith("arn:aws-cn:")
    assert Arns("us-gov-west-1", "1" * 12).function("f").startswith("arn:aws-us-gov:")
