"""Root-logger set-up and error log lines, as the official Python runtime writes them.

Visible effects reproduced from awslambdaric (the function's log is all a client
sees): the root logger gets one handler before user code is imported, so
`logging.basicConfig()` in user code is a no-op; `logging.Formatter.converter` is
`time.gmtime` for every formatter; text lines are
`[LEVEL]\\t<UTC time>.<ms>Z\\t<request id>\\t<message>\\n`; AWS_LAMBDA_LOG_LEVEL
sets the root level (TRACE means DEBUG); AWS_LAMBDA_LOG_FORMAT=JSON switches to
one JSON object per line. The handler does not swallow formatting errors (the
official one does not either). Unhandled errors are printed as one log record
whose lines are joined with "\\r" and indented with U+00A0, so the whole trace
stays one CloudWatch event.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

TEXT_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
TEXT_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
JSON_DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

UNHANDLED_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function "
    "code. However, in rare cases, a Lambda runtime update can cause unexpected function "
    "behavior. For functions using managed runtimes, runtime updates can be triggered by a "
    "function change, or can be applied automatically. To determine if the runtime has been "
    "updated, check the runtime version in the INIT_START log entry. If this error correlates "
    "with a change in the runtime version, you may be able to mitigate this error by "
    "temporarily rolling back to the previous runtime version. For more information, see "
    "https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html\r")

# Record attributes that never become extra keys of a JSON log line.
_RESERVED = frozenset({
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module",
    "exc_info", "exc_text", "stack_info", "lineno", "funcName", "created", "msecs",
    "relativeCreated", "thread", "threadName", "processName", "process", "aws_request_id",
    "tenant_id", "_frame_type"})


class Invocation:
    """The request the process is serving; read by the log filter."""

    request_id: str | None = None
    tenant_id: str | None = None


class LambdaLoggerFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = Invocation.request_id or ""
        record.tenant_id = Invocation.tenant_id
        return True


class LambdaLoggerHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        sys.stdout.write(self.format(record))


class LambdaLoggerHandlerWithFrameType(LambdaLoggerHandler):
    """Same output on stdout; AWS uses this class when a level or JSON format is set."""


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(datefmt=JSON_DATE_FORMAT)
        self._encode = json.JSONEncoder(ensure_ascii=False).encode

    def format(self, record: logging.LogRecord) -> str:
        record.levelno = min(50, max(0, record.levelno)) // 10 * 10
        record.levelname = logging.getLevelName(record.levelno)
        exc = record.exc_info
        result: dict[str, Any] = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc[2]) if exc else None,
            # exc_info=True outside an except block gives (None, None, None): this then
            # raises into the caller, exactly as the official formatter does.
            "errorType": exc[0].__name__ if exc else None,  # type: ignore[union-attr]
            "errorMessage": str(exc[1]) if exc else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if exc else None,
        }
        tenant_id = getattr(record, "tenant_id", None)
        if tenant_id is not None:
            result["tenantId"] = tenant_id
        result.update((k, v) for k, v in record.__dict__.items()
                      if k not in _RESERVED and k not in result)
        return self._encode({k: v for k, v in result.items() if v is not None}) + "\n"


def log_level_from_env(value: str | None) -> str:
    return {None: "", "TRACE": "DEBUG"}.get(value, value or "").upper()


def setup_logging(json_format: bool, level: str) -> None:
    """Install the runtime's root handler (call once, before importing user code)."""
    logging.Formatter.converter = time.gmtime
    handler = (LambdaLoggerHandlerWithFrameType() if json_format or level
               else LambdaLoggerHandler())
    handler.setFormatter(JsonFormatter() if json_format
                         else logging.Formatter(TEXT_FORMAT, TEXT_DATE_FORMAT))
    root = logging.getLogger()
    if level in logging._nameToLevel:
        root.setLevel(level)
    handler.addFilter(LambdaLoggerFilter())
    root.addHandler(handler)


def log_error(error: dict[str, Any], json_format: bool, to_json: Callable[[Any], str]) -> None:
    """Print an unhandled error (init or invoke) the way the official runtime does."""
    if json_format:
        stamp = time.strftime(JSON_DATE_FORMAT, time.gmtime(time.time()))
        sys.stdout.write(to_json({"timestamp": stamp, "log_level": "ERROR", **error}) + "\n")
        return
    description = "[ERROR]"
    if error.get("errorType"):
        description += " " + error["errorType"]
    if error.get("errorMessage"):
        if error.get("errorType"):
            description += ":"
        description += " " + error["errorMessage"]
    lines = [description]
    trace = error.get("stackTrace")
    if trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in trace:
            if element == "":
                lines.append("")
                continue
            for line in element.splitlines():
                stripped = line.lstrip(" ")
                lines.append("\u00a0" * (len(line) - len(stripped)) + stripped)
    sys.stdout.write("\r".join(lines) + "\n")
