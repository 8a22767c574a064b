"""Lamina's Python runtime: runs a `module.function` handler against the Runtime API.

Started inside the sandbox as `<python> -u -s /var/runtime/bootstrap.py [handler]`
(the handler defaults to $_HANDLER). Everything a function or its caller can
observe follows the official AWS runtime (awslambdaric + AWS's bootstrap.py):

* sys.path: $LAMBDA_TASK_ROOT, /opt/python/lib/pythonX.Y/site-packages,
  /opt/python (only when PYTHONPATH is unset), the interpreter's site-packages
  (3.12+), then the runtime folder and the standard library; .pth files in those
  folders are processed; PYTHONPATH is then set to $LAMBDA_RUNTIME_DIR for child
  processes.
* Handler strings, error types, error messages, stack-trace shapes, the log
  format, the context object, JSON encoding and `_X_AMZN_TRACE_ID` handling.
* An exception while importing the handler is posted to /runtime/init/error and
  the process exits with status 1; `sys.exit()` in a handler exits the process
  (SystemExit is never caught), which the platform reports as Runtime.ExitError.

Zygote readiness: importing this module has no side effects besides imports.
A fork server can import it, fork, and in the child call `configure()`,
`load_handler()` (imports user code) and `serve()`; `main()` does exactly that.
Pre-warmed environments start in `standby()` and become a function later.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback

from _lamina_lambda_context import LambdaContext
from _lamina_logging import UNHANDLED_WARNING, Invocation, log_error, log_level_from_env, setup_logging
from _lamina_marshal import FaultException, Marshaller
from _lamina_runtime_api import RuntimeAPI

TYPE_CHECKING = False
if TYPE_CHECKING:                 # typing costs import time; annotations are strings here
    from collections.abc import Callable
    from types import TracebackType
    from typing import Any, NoReturn

    Handler = Callable[[Any, LambdaContext], Any]
    Frame = tuple[str, int, str, str | None]

MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

_XRAY_CAUSE_LIMIT = 1024 * 1024      # the official client drops larger X-Ray causes


class Runtime:
    """Per-process settings read from the environment after any fork."""

    def __init__(self, api: RuntimeAPI | None = None) -> None:
        self.json_logs = (os.environ.get("AWS_LAMBDA_LOG_FORMAT") or "").upper() == "JSON"
        self.marshaller = Marshaller()
        self.api = api or _client()


def _client() -> RuntimeAPI:
    major, minor, micro = sys.version_info[:3]
    return RuntimeAPI(os.environ["AWS_LAMBDA_RUNTIME_API"],
                      f"aws-lambda-python/{major}.{minor}.{micro}-lamina")


# Where the platform shows the AWS SDK for Python (boto3) that AWS's runtimes include.
SDK_DIR = "/var/lang/sdk"


def configure(api: RuntimeAPI | None = None) -> Runtime:
    """Set sys.path, PYTHONPATH and the root logger for this function's environment
    (`api`: the Runtime API client to keep, if one is connected already)."""
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or "/var/task"
    major, minor = sys.version_info[:2]
    opt_site = f"/opt/python/lib/python{major}.{minor}/site-packages"
    pythonpath_set = "PYTHONPATH" in os.environ
    if not pythonpath_set:
        front = [opt_site, "/opt/python"]
        if sys.version_info >= (3, 12):
            # AWS puts the runtime's own site-packages (where it ships boto3) here.
            front.append(f"{sys.prefix}/lib/python{major}.{minor}/site-packages")
        sys.path[0:0] = front
    sys.path.insert(0, task_root)
    site = sys.modules.get("site")
    if site is not None:              # None only under `python -S`
        site.addsitedir(task_root)    # so .pth files in the code and layers work
        if not pythonpath_set:
            site.addsitedir(opt_site)
            site.addsitedir("/opt/python")
    if os.path.isdir(SDK_DIR):
        sys.path.append(SDK_DIR)      # the runtime's own boto3, after everything else
    if not pythonpath_set:
        os.environ["PYTHONPATH"] = (os.environ.get("LAMBDA_RUNTIME_DIR")
                                    or os.path.dirname(os.path.abspath(__file__)))
    runtime = Runtime(api)
    setup_logging(runtime.json_logs, log_level_from_env(os.environ.get("AWS_LAMBDA_LOG_LEVEL")))
    return runtime


def load_handler(handler: str) -> Handler:
    """Import the handler's module and return the function; FaultException if impossible."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as exc:
        raise FaultException(MALFORMED_HANDLER_NAME, f"Bad handler '{handler}': {exc}") from None
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise FaultException(BUILT_IN_MODULE_CONFLICT,
                                 f"Cannot use built-in module {modname} as a handler module")
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as exc:
        raise FaultException(IMPORT_MODULE_ERROR,
                             f"Unable to import module '{modname}': {exc}") from None
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise FaultException(USER_CODE_SYNTAX_ERROR,
                             f"Syntax error in module '{modname}': {exc}", trace) from None
    try:
        function: Handler = getattr(module, fname)
    except AttributeError:
        raise FaultException(HANDLER_NOT_FOUND,
                             f"Handler '{fname}' missing on module '{modname}'") from None
    return function


def init(runtime: Runtime, handler: str) -> Handler:
    """`load_handler`, or report the init error to the platform and exit(1)."""
    try:
        return load_handler(handler)
    except FaultException as exc:
        error = make_error(exc.msg, exc.exception_type, exc.trace)
    except Exception:
        _, value, tb = sys.exc_info()
        error = make_error(str(value), type(value).__name__,
                           traceback.format_list(_user_frames(tb)))
    import logging
    logging.warning(UNHANDLED_WARNING)
    log_error(error, runtime.json_logs, runtime.marshaller.to_json)
    _flush()
    runtime.api.post_init_error(runtime.marshaller.to_json(error).encode("utf-8"),
                                error["errorType"])
    sys.exit(1)


def serve(runtime: Runtime, handler: Handler) -> NoReturn:
    """The invoke loop; returns only by exception (SystemExit included)."""
    api = runtime.api
    while True:
        invoke = api.next()
        headers = invoke.headers
        request_id = headers.get("lambda-runtime-aws-request-id", "")
        Invocation.request_id = request_id
        Invocation.tenant_id = headers.get("lambda-runtime-aws-tenant-id") or None
        trace_id = headers.get("lambda-runtime-trace-id")
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        handle_invoke(runtime, handler, request_id, invoke.body, headers)


def handle_invoke(runtime: Runtime, handler: Handler, request_id: str, body: bytes,
                  headers: dict[str, str]) -> None:
    """Run one event through the handler and post the result or the error."""
    marshaller = runtime.marshaller
    try:
        context = _make_context(request_id, headers)
        event = marshaller.unmarshal_request(body, headers.get("content-type"))
        result = handler(event, context)
        payload, content_type = marshaller.marshal_response(result)
    except FaultException as exc:
        error = make_error(exc.msg, exc.exception_type, exc.trace, request_id)
        cause = _xray_cause("LambdaValidationError", exc.msg, [])
    except Exception:
        _, value, tb = sys.exc_info()
        frames = _user_frames(tb)
        error = make_error(str(value), type(value).__name__, traceback.format_list(frames),
                           request_id)
        cause = _xray_cause(type(value).__name__, str(value), frames)
    else:
        _flush()
        runtime.api.post_response(request_id, payload, content_type)
        return
    log_error(error, runtime.json_logs, marshaller.to_json)
    _flush()
    runtime.api.post_error(request_id, marshaller.to_json(error).encode("utf-8"),
                           error["errorType"], cause)


def make_error(message: str | None, error_type: str | None, stack_trace: list[str] | None,
               request_id: str | None = None) -> dict[str, Any]:
    return {"errorMessage": message or "", "errorType": error_type or "",
            "requestId": request_id if request_id is not None else "",
            "stackTrace": stack_trace or []}


def _make_context(request_id: str, headers: dict[str, str]) -> LambdaContext:
    client_context = headers.get("lambda-runtime-client-context") or None
    cognito = headers.get("lambda-runtime-cognito-identity") or None
    try:
        deadline = int(headers.get("lambda-runtime-deadline-ms") or 0)
    except ValueError:
        deadline = 0
    return LambdaContext(
        request_id,
        _parse_json_header(client_context, "Client Context") if client_context else None,
        _parse_json_header(cognito, "Cognito Identity") if cognito else None,
        deadline,
        headers.get("lambda-runtime-invoked-function-arn", ""),
        headers.get("lambda-runtime-aws-tenant-id") or None)


def _parse_json_header(value: str, name: str) -> Any:
    try:
        return json.loads(value)
    except Exception as exc:
        raise FaultException(LAMBDA_CONTEXT_UNMARSHAL_ERROR,
                             f"Unable to parse {name} JSON: {exc}") from None


def _user_frames(tb: TracebackType | None) -> list[Frame]:
    """Traceback frames as 4-tuples, without the leading frames of this bootstrap.

    4-tuples (not FrameSummary objects) so that `format_list` prints no column
    carets on 3.11+, exactly like the official runtime.
    """
    # lineno is None only for synthetic frames; kept as is, like the official runtime.
    frames: list[Frame] = [(f.filename, f.lineno, f.name, f.line)  # type: ignore[misc]
                           for f in traceback.extract_tb(tb)]
    for index, frame in enumerate(frames):
        if "/bootstrap.py" not in frame[0]:
            return frames[index:]
    return frames


def _xray_cause(error_type: str, message: str, frames: list[Frame]) -> str | None:
    cause = json.dumps({
        "working_directory": os.getcwd(),
        "exceptions": [{"message": message, "type": error_type,
                        "stack": [{"label": name, "path": path, "line": line}
                                  for path, line, name, _ in frames]}],
        "paths": sorted({path for path, _, _, _ in frames}),
    })
    return cause if len(cause) < _XRAY_CAUSE_LIMIT else None


def _flush() -> None:
    # Log lines must reach the platform before the result, so they precede END.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


STANDBY = "_LAMINA_STANDBY"
SPECIALIZE = "lamina-specialize"


def standby() -> Runtime:
    """Pre-warmed start (Lamina only, `_LAMINA_STANDBY=1`): wait for a function.

    The process starts with a generic environment and an empty /var/task, asks for
    work as usual, and its first event (`Lamina-Specialize: 1`) carries the function's
    whole environment and the names of the generic variables, {"env": {...},
    "standby": [...]}; by then the platform has put the code in /var/task. The
    generic variables give way to the function's; what the sandbox or the
    interpreter added at start-up (PWD, a coerced LC_CTYPE) stays, as in a normal
    start. Then `configure()` runs as usual; the event itself gets no answer (the
    next /next means "Init is done").
    """
    api = _client()
    invoke = api.next()
    if invoke.headers.get(SPECIALIZE) != "1":
        sys.exit("lamina: a standby runtime got an event before its function")
    message = json.loads(invoke.body)
    generic = set(message["standby"])
    added = {k: v for k, v in os.environ.items() if k not in generic}
    os.environ.clear()
    os.environ.update(message["env"])
    os.environ.update(added)
    return configure(api)


def main() -> None:
    if os.environ.get(STANDBY) == "1":
        runtime = standby()
        handler = os.environ.get("_HANDLER", "")
    else:
        handler = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("_HANDLER", "")
        runtime = configure()
    serve(runtime, init(runtime, handler))


if __name__ == "__main__":
    main()
