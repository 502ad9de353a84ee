"""Strict readers of provider JSON: each returns the value or raises :class:`ParseError`.

A parser calls them on the decoded payload; the reason of the error (``not_json``,
``bad_shape``, ``bad_value``, ``bad_timestamp``) is the dead-letter and metric label.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import orjson


class ParseError(ValueError):
    """A payload that is not what the provider documents; ``reason`` is a short metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def load_json(raw: bytes | str) -> Any:
    """Decode JSON or raise :class:`ParseError` ``not_json``."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ParseError("not_json", str(exc)) from None


def as_object(value: Any, what: str) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object, else raise ``bad_shape``."""
    if not isinstance(value, dict):
        raise ParseError("bad_shape", f"{what}: expected an object, was {type(value).__name__}")
    return value


def object_or_empty(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """``parent[key]`` if it is a JSON object, else a new empty object (optional sub-objects)."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def as_list(value: Any, what: str) -> list[Any]:
    """Return ``value`` if it is a JSON array, else raise ``bad_shape``."""
    if not isinstance(value, list):
        raise ParseError("bad_shape", f"{what}: expected a list, was {type(value).__name__}")
    return value


INT_LIMIT: Final = 1 << 63  # every provider integer fits in int64; beyond is out_of_range
_MAX_DIGITS: Final = 19  # digits of a decimal int64


def _bounded(number: int, what: str) -> int:
    if not -INT_LIMIT <= number < INT_LIMIT:
        raise ParseError("out_of_range", f"{what}: {number} outside int64")
    return number


def as_int(value: Any, what: str) -> int:
    """Return ``value`` as an int64 (ints, integral floats, digit strings), else ``bad_value``
    (``out_of_range`` beyond int64: no huge number reaches a parser's arithmetic)."""
    if isinstance(value, bool):
        raise ParseError("bad_value", f"{what}: expected an integer, was {value!r}")
    if isinstance(value, int):
        return _bounded(value, what)
    if isinstance(value, float) and value.is_integer():
        return _bounded(int(value), what)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        digits = value.strip().lstrip("-")
        if len(digits) > _MAX_DIGITS or not digits.isascii():  # "١٢" is a digit too
            raise ParseError("out_of_range", f"{what}: {value[:40]!r} is not an int64")
        return _bounded(int(value.strip()), what)
    raise ParseError("bad_value", f"{what}: expected an integer, was {value!r}"[:300])


def as_number(value: Any, what: str) -> float:
    """Return ``value`` as a finite float, else raise ``bad_value``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParseError("bad_value", f"{what}: expected a number, was {value!r}"[:300])
    if isinstance(value, int):
        _bounded(value, what)  # float() of a 400-digit int raises OverflowError
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ParseError("bad_value", f"{what}: expected a finite number, was {value!r}")
    return number


def iso_to_ms(value: Any, what: str) -> int:
    """Return Unix ms of an RFC 3339 timestamp, else raise ``bad_timestamp``."""
    if not isinstance(value, str) or not value:
        raise ParseError("bad_timestamp", f"{what}: expected an RFC 3339 string, was {value!r}")
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ParseError("bad_timestamp", f"{what}: not RFC 3339: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)
