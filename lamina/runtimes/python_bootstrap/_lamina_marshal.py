"""Event decoding and result encoding with the official runtime's visible rules.

The AWS runtime encodes with simplejson configured as: `allow_nan=True`,
`ensure_ascii=False` on python3.12+ (by AWS_EXECUTION_ENV) and True before,
Decimal written as its exact literal (NaN decimals as NaN), bytes inside
containers decoded as UTF-8, objects with `_asdict()` written as objects. This
module gets the same output from the stdlib encoder (no third-party code in the
sandbox): Decimals become unique placeholder strings that are swapped for their
literal after encoding. Known difference: a namedtuple *instance* is written as
an array here (the stdlib encoder never asks about tuples), as an object on AWS.

Top-level bytes results are passed through raw with content type
application/unknown, as the official runtime does.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MARSHAL_ERROR = "Runtime.MarshalError"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"

# AWS_EXECUTION_ENV values for which the official encoder keeps non-ASCII as is.
_UNICODE_RUNTIMES = frozenset({"AWS_Lambda_python3.12", "AWS_Lambda_python3.13",
                               "AWS_Lambda_python3.14", "AWS_Lambda_python3.15"})


class FaultException(Exception):
    """A runtime-detected fault: reported with its own type, no user stack trace."""

    def __init__(self, exception_type: str, msg: str, trace: list[str] | None = None) -> None:
        super().__init__(msg)
        self.exception_type = exception_type
        self.msg = msg
        self.trace = trace


class Marshaller:
    """JSON in and out for one runtime process. Build it after the environment is final."""

    def __init__(self) -> None:
        ensure_ascii = os.environ.get("AWS_EXECUTION_ENV") not in _UNICODE_RUNTIMES
        self._encoder = json.JSONEncoder(ensure_ascii=ensure_ascii, allow_nan=True,
                                         default=self._default)
        self._nonce = os.urandom(8).hex()
        self._raw: list[str] = []

    def to_json(self, obj: Any) -> str:
        """Encode like the official runtime; raises TypeError/ValueError as json does."""
        self._raw.clear()
        text = self._encoder.encode(obj)
        if self._raw:
            for index, literal in enumerate(self._raw):
                text = text.replace(f'"{self._token(index)}"', literal, 1)
            self._raw.clear()
        return text

    def marshal_response(self, response: Any) -> tuple[bytes, str]:
        if isinstance(response, bytes):
            return response, "application/unknown"
        try:
            return self.to_json(response).encode("utf-8"), "application/json"
        except Exception as exc:
            raise FaultException(MARSHAL_ERROR, f"Unable to marshal response: {exc}") from None

    @staticmethod
    def unmarshal_request(body: bytes, content_type: str | None) -> Any:
        # A missing Content-Type counts as JSON (AWS always sends one); any other
        # type hands the raw bytes to the handler, as the official runtime does.
        if content_type is not None and content_type != "application/json":
            return body
        try:
            return json.loads(body.decode("utf-8").removeprefix("\ufeff"))
        except Exception as exc:
            raise FaultException(UNMARSHAL_ERROR, f"Unable to unmarshal input: {exc}") from None

    def _token(self, index: int) -> str:
        return f"lamina-raw-json:{self._nonce}:{index}"

    def _default(self, obj: Any) -> Any:
        decimal = sys.modules.get("decimal")        # a Decimal implies decimal was imported
        if decimal is not None and isinstance(obj, decimal.Decimal):
            if obj.is_nan():
                return float("nan")
            self._raw.append(str(obj))
            return self._token(len(self._raw) - 1)
        if isinstance(obj, bytes):
            return obj.decode("utf-8")
        as_dict = getattr(obj, "_asdict", None)
        if as_dict is not None and callable(as_dict):
            return as_dict()
        raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")
