"""A small CBOR (RFC 8949) codec: what Smithy RPC v2 CBOR services exchange with SDKs.

Decodes every major type SDKs send (definite and indefinite lengths, half/single/
double floats, tag 1 epoch timestamps → float seconds); encodes dicts, lists,
str, bytes, int, float, bool, None and `Timestamp` (tag 1). Written here rather
than adding a dependency for ~100 lines; other tags are rejected, not guessed.
"""

from __future__ import annotations

import struct
from typing import Any


class CborError(ValueError):
    pass


class Timestamp(float):
    """Seconds since the epoch, encoded as CBOR tag 1 (Smithy's timestamp)."""


_BREAK = 0xFF


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")
    raise CborError("integer too large for CBOR")


def encode(value: Any) -> bytes:
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def _encode(value: Any, out: bytearray) -> None:
    if value is None:
        out.append(0xF6)
    elif value is True:
        out.append(0xF5)
    elif value is False:
        out.append(0xF4)
    elif isinstance(value, Timestamp):
        out += _head(6, 1)
        _encode(float(value), out)
    elif isinstance(value, int):
        out += _head(0, value) if value >= 0 else _head(1, -1 - value)
    elif isinstance(value, float):
        out.append(0xFB)
        out += struct.pack(">d", value)
    elif isinstance(value, str):
        data = value.encode()
        out += _head(3, len(data)) + data
    elif isinstance(value, (bytes, bytearray)):
        out += _head(2, len(value)) + value
    elif isinstance(value, (list, tuple)):
        out += _head(4, len(value))
        for item in value:
            _encode(item, out)
    elif isinstance(value, dict):
        out += _head(5, len(value))
        for k, v in value.items():
            _encode(k, out)
            _encode(v, out)
    else:
        raise CborError(f"cannot encode {type(value).__name__}")


def decode(data: bytes) -> Any:
    value, end = _decode(data, 0)
    if end != len(data):
        raise CborError("trailing bytes after the CBOR data item")
    return value


def _need(data: bytes, pos: int, n: int) -> None:
    if pos + n > len(data):
        raise CborError("truncated CBOR data")


def _argument(data: bytes, pos: int, info: int) -> tuple[int, int]:
    if info < 24:
        return info, pos
    size = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if size is None:
        raise CborError(f"bad additional information {info}")
    _need(data, pos, size)
    return int.from_bytes(data[pos:pos + size], "big"), pos + size


def _decode(data: bytes, pos: int) -> tuple[Any, int]:
    _need(data, pos, 1)
    first = data[pos]
    pos += 1
    major, info = first >> 5, first & 0x1F
    if major == 7:
        return _simple(data, pos, info)
    if info == 31:
        return _indefinite(data, pos, major)
    n, pos = _argument(data, pos, info)
    if major == 0:
        return n, pos
    if major == 1:
        return -1 - n, pos
    if major in (2, 3):
        _need(data, pos, n)
        chunk = bytes(data[pos:pos + n])
        return (chunk.decode() if major == 3 else chunk), pos + n
    if major == 4:
        items = []
        for _ in range(n):
            item, pos = _decode(data, pos)
            items.append(item)
        return items, pos
    if major == 5:
        mapping = {}
        for _ in range(n):
            key, pos = _decode(data, pos)
            mapping[key], pos = _decode(data, pos)
        return mapping, pos
    # major 6: tags
    value, pos = _decode(data, pos)
    if n == 1 and isinstance(value, (int, float)):
        return Timestamp(value), pos
    raise CborError(f"unsupported CBOR tag {n}")


def _indefinite(data: bytes, pos: int, major: int) -> tuple[Any, int]:
    if major in (2, 3):
        parts: list[bytes] = []
        while True:
            _need(data, pos, 1)
            if data[pos] == _BREAK:
                joined = b"".join(parts)
                return (joined.decode() if major == 3 else joined), pos + 1
            part, pos = _decode(data, pos)
            parts.append(part.encode() if isinstance(part, str) else part)
    if major == 4:
        items: list[Any] = []
        while True:
            _need(data, pos, 1)
            if data[pos] == _BREAK:
                return items, pos + 1
            item, pos = _decode(data, pos)
            items.append(item)
    if major == 5:
        mapping: dict[Any, Any] = {}
        while True:
            _need(data, pos, 1)
            if data[pos] == _BREAK:
                return mapping, pos + 1
            key, pos = _decode(data, pos)
            mapping[key], pos = _decode(data, pos)
    raise CborError(f"major type {major} cannot have an indefinite length")


def _simple(data: bytes, pos: int, info: int) -> tuple[Any, int]:
    if info == 20:
        return False, pos
    if info == 21:
        return True, pos
    if info in (22, 23):
        return None, pos
    formats = {25: (">e", 2), 26: (">f", 4), 27: (">d", 8)}
    if info in formats:
        fmt, size = formats[info]
        _need(data, pos, size)
        return struct.unpack(fmt, data[pos:pos + size])[0], pos + size
    raise CborError(f"unsupported simple value {info}")
