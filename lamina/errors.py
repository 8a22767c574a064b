"""One error hierarchy for the whole server, mapped to AWS's wire format in `api/`.

Each class carries its AWS error code, HTTP status and the JSON body field that
carries the message (`Message` for some shapes, `message` for most) as class
attributes. Foreign exceptions are translated where they enter.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LaminaError(Exception):
    code: ClassVar[str] = "ServiceException"
    status: ClassVar[int] = 500
    message_field: ClassVar[str] = "Message"
    # ValidationException has no "Type" in its body.
    has_type: ClassVar[bool] = True

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra          # additional body fields (Reason, ...)
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.has_type:
            out["Type"] = "User" if self.status < 500 else "Service"
        out[self.message_field] = self.message
        out.update(self.extra)
        return out


class ServiceException(LaminaError):
    pass


class ValidationException(LaminaError):
    code = "ValidationException"
    status = 400
    message_field = "message"
    has_type = False


class InvalidParameterValueException(LaminaError):
    code = "InvalidParameterValueException"
    status = 400
    message_field = "message"


class InvalidRequestContentException(LaminaError):
    code = "InvalidRequestContentException"
    status = 400
    message_field = "message"


class UnsupportedMediaTypeException(LaminaError):
    code = "UnsupportedMediaTypeException"
    status = 415
    message_field = "message"


class ResourceNotFoundException(LaminaError):
    code = "ResourceNotFoundException"
    status = 404


class ProvisionedConcurrencyConfigNotFoundException(LaminaError):
    code = "ProvisionedConcurrencyConfigNotFoundException"
    status = 404
    message_field = "message"


class ResourceConflictException(LaminaError):
    code = "ResourceConflictException"
    status = 409
    message_field = "message"


class ResourceInUseException(LaminaError):
    code = "ResourceInUseException"
    status = 400


class PreconditionFailedException(LaminaError):
    code = "PreconditionFailedException"
    status = 412
    message_field = "message"


class RequestEntityTooLargeException(LaminaError):
    code = "RequestEntityTooLargeException"
    status = 413
    message_field = "message"


class PolicyLengthExceededException(LaminaError):
    code = "PolicyLengthExceededException"
    status = 400
    message_field = "message"


class TooManyRequestsException(LaminaError):
    code = "TooManyRequestsException"
    status = 429
    message_field = "message"

    def __init__(self, reason: str, message: str = "Rate Exceeded.",
                 retry_after_s: int | None = None) -> None:
        super().__init__(message, Reason=reason)
        if retry_after_s is not None:
            self.headers["Retry-After"] = str(retry_after_s)


class AccessDeniedException(LaminaError):
    code = "AccessDeniedException"
    status = 403
    message_field = "Message"
