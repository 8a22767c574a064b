"""Marker/MaxItems pagination as every Lambda List operation does it."""

from __future__ import annotations

import base64
from typing import TypeVar

from lamina.errors import InvalidParameterValueException

T = TypeVar("T")


def page(items: list[T], marker: str | None, max_items: int | None,
         default: int = 50) -> tuple[list[T], str | None]:
    start = 0
    if marker:
        try:
            start = int(base64.urlsafe_b64decode(marker.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise InvalidParameterValueException("Invalid marker: " + marker) from None
    size = min(max_items or default, default) if default else (max_items or len(items))
    chunk = items[start:start + size]
    end = start + len(chunk)
    next_marker = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return chunk, next_marker
