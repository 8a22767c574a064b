"""The `context` argument of a Python handler, as the official runtime builds it.

Attribute names, types and `repr` follow the AWS Python runtime interface client
(awslambdaric): `memory_limit_in_mb` is the environment *string*, `identity` is
always an object (its fields None without a Cognito header), `client_context` is
None unless the invoke carried one, `get_remaining_time_in_millis()` is floored
at 0. Environment values are read when the context is built (per invoke).
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T", bound="_Slots")


class LambdaContext:
    def __init__(self, invoke_id: str, client_context: dict[str, Any] | None,
                 cognito_identity: dict[str, Any] | None, epoch_deadline_time_in_ms: int,
                 invoked_function_arn: str | None = None, tenant_id: str | None = None) -> None:
        environ = os.environ
        self.aws_request_id = invoke_id
        self.log_group_name = environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id
        self.client_context = _from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _from_dict(Client, self.client_context.client)
        self.identity = CognitoIdentity()
        self.identity.cognito_identity_id = None
        self.identity.cognito_identity_pool_id = None
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")
        self._epoch_deadline_time_in_ms = epoch_deadline_time_in_ms

    def get_remaining_time_in_millis(self) -> int:
        remaining = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return max(0, remaining)

    def log(self, msg: object) -> None:
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(["
                f"aws_request_id={self.aws_request_id},"
                f"log_group_name={self.log_group_name},"
                f"log_stream_name={self.log_stream_name},"
                f"function_name={self.function_name},"
                f"memory_limit_in_mb={self.memory_limit_in_mb},"
                f"function_version={self.function_version},"
                f"invoked_function_arn={self.invoked_function_arn},"
                f"client_context={self.client_context},"
                f"identity={self.identity},"
                f"tenant_id={self.tenant_id}])")


class _Slots:
    __slots__: tuple[str, ...] = ()

    def __repr__(self) -> str:
        fields = ",".join(f"{name}={getattr(self, name)}" for name in self.__slots__)
        return f"{self.__class__.__name__}([{fields}])"


class CognitoIdentity(_Slots):
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")
    cognito_identity_id: Any
    cognito_identity_pool_id: Any


# Slot order is repr order, kept as the official runtime prints it.
class Client(_Slots):
    __slots__ = ("installation_id", "app_title", "app_version_name",
                 "app_version_code", "app_package_name")
    installation_id: Any
    app_title: Any
    app_version_name: Any
    app_version_code: Any
    app_package_name: Any


class ClientContext(_Slots):
    __slots__ = ("custom", "env", "client")
    custom: Any
    env: Any
    client: Any


def _from_dict(cls: type[T], values: dict[str, Any] | None) -> T | None:
    if values is None:
        return None
    obj = cls()
    for name in cls.__slots__:
        setattr(obj, name, values.get(name, None))
    return obj
