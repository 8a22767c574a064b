import pytest

from lamina.api.app import Router, UnknownOperationException
from lamina.model import load

ROUTER = Router(load())


@pytest.mark.parametrize("method,path,query,op", [
    ("POST", "/2015-03-31/functions", {}, "CreateFunction"),
    ("GET", "/2015-03-31/functions/my-fn", {}, "GetFunction"),
    ("GET", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af/configuration", {}, "GetFunctionConfiguration"),
    ("POST", "/2015-03-31/functions/f/invocations", {}, "Invoke"),
    ("GET", "/2018-10-31/layers", {}, "ListLayers"),
    ("GET", "/2018-10-31/layers", {"find": "LayerVersion", "Arn": "x"}, "GetLayerVersionByArn"),
    ("GET", "/2019-09-30/functions/f/provisioned-concurrency", {"List": "ALL"}, "ListProvisionedConcurrencyConfigs"),
    ("GET", "/2019-09-30/functions/f/provisioned-concurrency", {"Qualifier": "1"}, "GetProvisionedConcurrencyConfig"),
    ("DELETE", "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af", {}, "UntagResource"),
    ("GET", "/2016-08-19/account-settings", {}, "GetAccountSettings"),
    ("GET", "/2016-08-19/account-settings/", {}, "GetAccountSettings"),
])
def test_routes(method, path, query, op):
    assert ROUTER.match(method, path, query)[0].name == op


def test_unknown():
    with pytest.raises(UnknownOperationException):
        ROUTER.match("GET", "/nope", {})
