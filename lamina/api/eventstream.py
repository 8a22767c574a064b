"""The AWS event stream encoding (`application/vnd.amazon.eventstream`), writer side.

InvokeWithResponseStream answers with a sequence of binary messages. Each is

    prelude:  total length (u32) | headers length (u32) | CRC32 of those 8 bytes (u32)
    headers:  name length (u8) | name | value type (u8, 7 = string) | length (u16) | value
    payload
    CRC32 of everything before it (u32)

all big-endian. Lambda sends `PayloadChunk` events (raw bytes) and one final
`InvokeComplete` event (JSON `{ErrorCode, ErrorDetails, LogResult}`).
"""

from __future__ import annotations

import asyncio
import json
import struct
import zlib

from lamina.invoke.service import Invoker, InvokeRequest, InvokeResponse

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_STRING = 7
# botocore refuses messages over 16 MiB; smaller messages also keep the client's parser fast.
MAX_CHUNK = 1024 * 1024


def _headers(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += struct.pack(">B", len(raw_name)) + raw_name
        out += struct.pack(">BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event stream message."""
    encoded = _headers(headers)
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + payload + struct.pack(">I", crc)


def event(event_type: str, content_type: str, payload: bytes) -> bytes:
    return message({":event-type": event_type, ":content-type": content_type,
                    ":message-type": "event"}, payload)


def payload_chunks(data: bytes) -> list[bytes]:
    """`PayloadChunk` events carrying `data` (split so that no message is too large)."""
    view = memoryview(data)
    return [event("PayloadChunk", "application/octet-stream", bytes(view[i:i + MAX_CHUNK]))
            for i in range(0, len(data), MAX_CHUNK)]


def invoke_complete(error_code: str | None = None, error_details: str | None = None,
                    log_result: str | None = None) -> bytes:
    """The final `InvokeComplete` event; members that are None are left out."""
    body = {key: value for key, value in (("ErrorCode", error_code),
                                          ("ErrorDetails", error_details),
                                          ("LogResult", log_result)) if value is not None}
    return event("InvokeComplete", "application/json", json.dumps(body).encode())


# -- running a streaming invocation ---------------------------------------------------------


async def start(invoker: Invoker, req: InvokeRequest) -> asyncio.Task[InvokeResponse]:
    """Start `req` (its `stream` set) and return once the response begins.

    That is when the runtime opens a streaming /response (`req.stream.started`), or
    when the invocation is over without streaming (a buffered runtime, an error, a
    DryRun). Errors raised before anything ran (not found, throttled, too large)
    propagate from here, so the caller can still answer with a plain error. The
    stream is closed whenever the invocation ends, so iterating it always ends.
    """
    stream = req.stream
    assert stream is not None
    task = asyncio.ensure_future(invoker.invoke(req))
    task.add_done_callback(lambda _: stream.close())
    started = asyncio.ensure_future(stream.started.wait())
    try:
        await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        started.cancel()
    if task.done() and not stream.started.is_set():
        task.result()
    return task


def error_fields(resp: InvokeResponse) -> tuple[str | None, str | None]:
    """(ErrorCode, ErrorDetails) of a finished invocation: the runtime's error type and
    its error document as JSON text; (None, None) on success."""
    if resp.function_error is None:
        return None, None
    details = resp.payload.decode(errors="replace")
    code = resp.result.error_type if resp.result is not None else None
    if not code:
        try:
            code = json.loads(resp.payload).get("errorType")
        except (ValueError, AttributeError):
            code = None
    return code or resp.function_error, details
