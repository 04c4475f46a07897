"""Typed parse errors and the value readers both formats share.

Every reader refuses what no store can hold (see services.wire.values for the limits
and why); `lenient` turns a refused optional field into a note instead of an error,
for the legacy format, whose field types drift between client versions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.wire.values import (
    INT64_MAX,
    INT64_MIN,
    MAX_TEXT_CHARS,
    UnstorableJson,
    clean_json,
    clean_text,
    has_control,
    note,
    utc_in_window,
)

TAG_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
UNIT_MAX_CHARS = 32
TIMESTAMP_MAX_CHARS = 64
BOOLEAN_FIELDS = frozenset({"charging", "torque_enabled"})

__all__ = ["MAX_TEXT_CHARS", "ParseError", "ParseErrorReason"]


class ParseErrorReason(StrEnum):
    OVERSIZED = "oversized"
    BAD_JSON = "bad_json"
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_TOPIC = "unknown_topic"
    BAD_ROBOT_ID = "bad_robot_id"
    ROBOT_ID_MISMATCH = "robot_id_mismatch"
    BAD_FIELD = "bad_field"
    MISSING_FIELD = "missing_field"
    UNSUPPORTED_VERSION = "unsupported_version"
    # Anyone may publish on tonypi/battery, tonypi/location and the response topics, so
    # a seq-carrying own-format message there could pre-empt another robot's real one.
    OWN_FORMAT_ON_SHARED_TOPIC = "own_format_on_shared_topic"
    # The safety net in parse_message: a parser bug, never a property of the payload.
    INTERNAL_ERROR = "internal_error"


class ParseError(Exception):
    """A payload that cannot become a Message; `reason` is stable for counting.

    `why` is a short word from a fixed set (type, range, not_finite, too_long, bad_text,
    bad_time, too_large, too_deep) saying what was wrong with a BAD_FIELD.
    """

    def __init__(self, reason: ParseErrorReason, detail: str, topic: str = "",
                 why: str = "type") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.topic = topic
        self.why = why


def bad(detail: str, why: str = "type") -> ParseError:
    return ParseError(ParseErrorReason.BAD_FIELD, detail, why=why)


def _missing(key: str) -> ParseError:
    return ParseError(ParseErrorReason.MISSING_FIELD, f"{key} is required")


def lenient(read: Callable[..., Any], obj: Mapping[str, Any], key: str, *,
            label: str | None = None, **options: Any) -> Any:
    """`read(obj, key, ...)`, or None with a "dropped:<label>:<why>" note when refused."""
    try:
        return read(obj, key, **options)
    except ParseError as exc:
        if exc.reason is not ParseErrorReason.BAD_FIELD:
            raise
        note(f"dropped:{label or key}:{exc.why}")
        return None


def reader(tolerant: bool) -> Callable[..., Any]:
    """`lenient` for the legacy format; for ours, a wrong field refuses the message."""
    if tolerant:
        return lenient

    def strict(read: Callable[..., Any], obj: Mapping[str, Any], key: str, *,
               label: str | None = None, **options: Any) -> Any:
        return read(obj, key, **options)
    return strict


def number(obj: Mapping[str, Any], key: str, *, required: bool = False) -> float | None:
    """A finite number; bools are not numbers here even though Python says they are."""
    value = obj.get(key)
    if value is None:
        if required:
            raise _missing(key)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(f"{key} must be a number, got {type(value).__name__}")
    try:
        result = float(value)
    except OverflowError:  # an integer of hundreds of digits
        raise bad(f"{key} is out of range", "range") from None
    if not math.isfinite(result):
        raise bad(f"{key} is not finite", "not_finite")
    return result


def integer(obj: Mapping[str, Any], key: str, *, required: bool = False,
            low: int = INT64_MIN, high: int = INT64_MAX) -> int | None:
    """An integer in [low, high] (the column's range); 3.0 counts, 3.5 does not."""
    value = obj.get(key)
    if value is None:
        if required:
            raise _missing(key)
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"{key} must be an integer")
    if not low <= value <= high:
        raise bad(f"{key} is out of range [{low}, {high}]", "range")
    return value


def boolean(obj: Mapping[str, Any], key: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise bad(f"{key} must be true or false")
    return value


def text(obj: Mapping[str, Any], key: str, *, required: bool = False,
         max_chars: int = MAX_TEXT_CHARS, cut: bool = True) -> str | None:
    """A repaired string (see values.clean_text) of at most max_chars.

    Longer free text is cut (noted); with cut=False, for values whose prefix would name
    something else (addresses, URLs, keys), it is refused.
    """
    value = obj.get(key)
    if value is None:
        if required:
            raise _missing(key)
        return None
    if not isinstance(value, str):
        raise bad(f"{key} must be a string")
    value = clean_text(value)
    if len(value) > max_chars:
        if not cut:
            raise bad(f"{key} longer than {max_chars} characters", "too_long")
        note(f"truncated:{key}")
        value = value[:max_chars]
    return value


def tag(obj: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    """A value that becomes a series tag: short and plain, so series stay bounded."""
    value = obj.get(key)
    if value is None:
        if required:
            raise _missing(key)
        return None
    if not isinstance(value, str) or not TAG_PATTERN.fullmatch(value):
        raise bad(f"{key} has characters not allowed in a series name", "bad_text")
    return value


def unit(obj: Mapping[str, Any], key: str = "unit") -> str | None:
    """A unit label; it becomes an InfluxDB tag, which cannot hold control characters."""
    value = text(obj, key, max_chars=UNIT_MAX_CHARS)
    if value is not None and has_control(value):
        raise bad(f"{key} has control characters", "bad_text")
    return value or None


def raw_json(obj: Mapping[str, Any], key: str) -> Any:
    """A free-form JSON value stored as is (see values.clean_json for its bounds)."""
    value = obj.get(key)
    if value is None:
        return None
    try:
        return clean_json(value)
    except UnstorableJson as exc:
        raise bad(f"{key} cannot be stored: {exc.why}", exc.why) from None


def mapping(obj: Mapping[str, Any], key: str, *, required: bool = False) -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None:
        if required:
            raise _missing(key)
        return {}
    if not isinstance(value, dict):
        raise bad(f"{key} must be an object")
    return value


def utc_timestamp(obj: Mapping[str, Any], key: str, *, required: bool = False) -> datetime | None:
    """An ISO 8601 time WITH offset, in UTC and inside the storable window."""
    value = text(obj, key, required=required, max_chars=TIMESTAMP_MAX_CHARS, cut=False)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise bad(f"{key} is not an ISO 8601 time", "bad_time") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise bad(f"{key} has no UTC offset", "bad_time")
    utc = utc_in_window(moment)
    if utc is None:
        raise bad(f"{key} outside the storable time window", "range")
    return utc


def pick_numbers(obj: Mapping[str, Any], names: tuple[str, ...], *,
                 tolerant: bool = False) -> dict[str, float | bool]:
    """The known numeric fields present in obj; unknown keys are ignored, not stored.

    With `tolerant`, a field of the wrong type is dropped (noted) instead of refused.
    """
    fields: dict[str, float | bool] = {}
    for name in names:
        value = obj.get(name)
        if isinstance(value, bool) and name in BOOLEAN_FIELDS:
            fields[name] = value
        elif value is not None:
            result = lenient(number, obj, name) if tolerant else number(obj, name)
            if result is not None:
                fields[name] = result
    return fields
