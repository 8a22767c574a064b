"""FilterCriteria: EventBridge-style event patterns, as event source mappings use them.

A pattern is a JSON object whose leaves are arrays of matchers; a record matches
when every key of the pattern matches (AND) and, for each leaf, any one matcher
matches (OR). Where the record holds an array, any element may match. Matchers:
literal strings, numbers, booleans and null; ``{"prefix"}``, ``{"suffix"}``,
``{"equals-ignore-case"}``, ``{"wildcard"}``, ``{"anything-but"}`` (a value, a
list, or ``{"prefix"}``/``{"suffix"}``), ``{"numeric": [op, n, …]}``,
``{"exists": bool}`` and ``{"cidr"}``; a ``"$or": [pattern, …]`` key combines
sub-patterns. A mapping's filters are ORed: a record is kept if any matches.

`compile_filters` validates (raising `InvalidFilter`) so that Create/Update can
answer "Invalid filter pattern definition." before anything is stored.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

_MISSING = object()
_NUMERIC_OPS = {"<", "<=", "=", ">", ">="}
_OPERATORS = {"prefix", "suffix", "equals-ignore-case", "wildcard", "anything-but", "numeric",
              "exists", "cidr"}


class InvalidFilter(ValueError):
    pass


Pattern = dict[str, Any]


def compile_filters(criteria: dict[str, Any] | None) -> list[Pattern]:
    """The parsed patterns of a FilterCriteria; raises InvalidFilter on a bad one."""
    patterns = []
    for item in (criteria or {}).get("Filters") or []:
        text = item.get("Pattern")
        if not isinstance(text, str) or not text:
            raise InvalidFilter("empty pattern")
        try:
            pattern = json.loads(text)
        except ValueError as exc:
            raise InvalidFilter(str(exc)) from None
        _check(pattern)
        patterns.append(pattern)
    return patterns


def _check(pattern: Any) -> None:
    if not isinstance(pattern, dict) or not pattern:
        raise InvalidFilter("a pattern is a non-empty JSON object")
    for key, value in pattern.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise InvalidFilter("$or takes a list of patterns")
            for sub in value:
                _check(sub)
        elif isinstance(value, dict):
            _check(value)
        elif isinstance(value, list):
            for matcher in value:
                _check_matcher(matcher)
        else:
            raise InvalidFilter(f"the value of {key} must be an object or an array")


def _check_matcher(matcher: Any) -> None:
    if matcher is None or isinstance(matcher, (str, int, float, bool)):
        return
    if not isinstance(matcher, dict) or len(matcher) != 1:
        raise InvalidFilter("a matcher is a value or a one-key object")
    op, arg = next(iter(matcher.items()))
    if op not in _OPERATORS:
        raise InvalidFilter(f"unknown operator {op}")
    if op == "numeric":
        if not isinstance(arg, list) or not arg or len(arg) % 2:
            raise InvalidFilter("numeric takes [op, value, …]")
        for i in range(0, len(arg), 2):
            if arg[i] not in _NUMERIC_OPS or isinstance(arg[i + 1], bool) or \
                    not isinstance(arg[i + 1], (int, float)):
                raise InvalidFilter("bad numeric comparison")
    elif op == "exists" and not isinstance(arg, bool):
        raise InvalidFilter("exists takes true or false")
    elif op in ("prefix", "suffix", "equals-ignore-case", "wildcard", "cidr") and \
            not isinstance(arg, (str, dict)):
        raise InvalidFilter(f"{op} takes a string")
    elif op == "cidr":
        try:
            ipaddress.ip_network(arg, strict=False)
        except ValueError as exc:
            raise InvalidFilter(str(exc)) from None


def matches_any(patterns: list[Pattern], record: dict[str, Any]) -> bool:
    """True when there are no patterns or any of them matches the record."""
    return not patterns or any(matches(p, record) for p in patterns)


def matches(pattern: Pattern, record: Any) -> bool:
    for key, expected in pattern.items():
        if key == "$or":
            if not any(matches(sub, record) for sub in expected):
                return False
            continue
        value = record.get(key, _MISSING) if isinstance(record, dict) else _MISSING
        if isinstance(expected, dict):
            if value is _MISSING or not _match_nested(expected, value):
                return False
        elif not _match_leaf(expected, value):
            return False
    return True


def _match_nested(pattern: Pattern, value: Any) -> bool:
    if isinstance(value, list):
        return any(matches(pattern, v) for v in value)
    return matches(pattern, value)


def _match_leaf(matchers: list[Any], value: Any) -> bool:
    for matcher in matchers:
        if isinstance(matcher, dict) and "exists" in matcher:
            present = value is not _MISSING and not (isinstance(value, (dict, list)) and not value)
            if present == matcher["exists"]:
                return True
            continue
        if value is _MISSING:
            continue
        values = value if isinstance(value, list) else [value]
        if any(_match_one(matcher, v) for v in values):
            return True
    return False


def _match_one(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, dict):
        if isinstance(matcher, bool) or isinstance(value, bool):
            return matcher is value
        if isinstance(matcher, (int, float)) and isinstance(value, (int, float)):
            return float(matcher) == float(value)
        return bool(matcher == value)
    op, arg = next(iter(matcher.items()))
    if op == "numeric":
        return _numeric(arg, value)
    if op == "anything-but":
        return _anything_but(arg, value)
    if not isinstance(value, str):
        return False
    if op == "prefix":
        return value.lower().startswith(arg["equals-ignore-case"].lower()) \
            if isinstance(arg, dict) else value.startswith(arg)
    if op == "suffix":
        return value.lower().endswith(arg["equals-ignore-case"].lower()) \
            if isinstance(arg, dict) else value.endswith(arg)
    if op == "equals-ignore-case":
        return value.lower() == str(arg).lower()
    if op == "wildcard":
        return _wildcard(str(arg), value)
    if op == "cidr":
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(arg, strict=False)
        except ValueError:
            return False
    return False


def _wildcard(pattern: str, value: str) -> bool:
    # Not fnmatch: it also treats [] and ? specially, EventBridge only knows '*'.
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _numeric(spec: list[Any], value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    for i in range(0, len(spec), 2):
        op, bound = spec[i], float(spec[i + 1])
        ok = {"<": value < bound, "<=": value <= bound, "=": value == bound,
              ">": value > bound, ">=": value >= bound}[op]
        if not ok:
            return False
    return True


def _anything_but(arg: Any, value: Any) -> bool:
    if isinstance(arg, dict):
        inner, text = next(iter(arg.items()))
        if not isinstance(value, str):
            return True
        if inner == "prefix":
            return not value.startswith(text)
        if inner == "suffix":
            return not value.endswith(text)
        if inner == "equals-ignore-case":
            texts = text if isinstance(text, list) else [text]
            return value.lower() not in {t.lower() for t in texts}
        if inner == "wildcard":
            return not _wildcard(str(text), value)
        return True
    excluded = arg if isinstance(arg, list) else [arg]
    return not any(_match_one(e, value) for e in excluded)
