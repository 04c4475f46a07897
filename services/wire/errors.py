"""Typed parse errors and the strict value readers both formats share."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

MAX_TEXT_CHARS = 10_000
TAG_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
UNIT_MAX_CHARS = 32
BOOLEAN_FIELDS = frozenset({"charging", "torque_enabled"})


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


class ParseError(Exception):
    """A payload that cannot become a Message; `reason` is stable for counting."""

    def __init__(self, reason: ParseErrorReason, detail: str, topic: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.topic = topic


def bad(detail: str) -> ParseError:
    return ParseError(ParseErrorReason.BAD_FIELD, detail)


def number(obj: Mapping[str, Any], key: str, *, required: bool = False) -> float | None:
    """A finite number; bools are not numbers here even though Python says they are."""
    value = obj.get(key)
    if value is None:
        if required:
            raise ParseError(ParseErrorReason.MISSING_FIELD, f"{key} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(f"{key} must be a number, got {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result):
        raise bad(f"{key} is not finite")
    return result


def integer(obj: Mapping[str, Any], key: str, *, required: bool = False) -> int | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise ParseError(ParseErrorReason.MISSING_FIELD, f"{key} is required")
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"{key} must be an integer")
    if not -(2**63) <= value < 2**63:
        raise bad(f"{key} is out of range")
    return value


def boolean(obj: Mapping[str, Any], key: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise bad(f"{key} must be true or false")
    return value


def text(obj: Mapping[str, Any], key: str, *, required: bool = False,
         max_chars: int = MAX_TEXT_CHARS) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise ParseError(ParseErrorReason.MISSING_FIELD, f"{key} is required")
        return None
    if not isinstance(value, str):
        raise bad(f"{key} must be a string")
    return value[:max_chars]


def tag(obj: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    """A value that becomes a series tag: short and plain, so series stay bounded."""
    value = text(obj, key, required=required, max_chars=1000)
    if value is not None and not TAG_PATTERN.fullmatch(value):
        raise bad(f"{key} has characters not allowed in a series name")
    return value


def unit(obj: Mapping[str, Any], key: str = "unit") -> str | None:
    value = text(obj, key)
    return None if value is None else value[:UNIT_MAX_CHARS]


def mapping(obj: Mapping[str, Any], key: str, *, required: bool = False) -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None:
        if required:
            raise ParseError(ParseErrorReason.MISSING_FIELD, f"{key} is required")
        return {}
    if not isinstance(value, dict):
        raise bad(f"{key} must be an object")
    return value


def utc_timestamp(obj: Mapping[str, Any], key: str, *, required: bool = False) -> datetime | None:
    """An ISO 8601 time WITH offset, converted to UTC; naive times are refused."""
    value = text(obj, key, required=required, max_chars=64)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise bad(f"{key} is not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise bad(f"{key} has no UTC offset")
    return moment.astimezone(UTC)


def pick_numbers(obj: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, float | bool]:
    """The known numeric fields present in obj; unknown keys are ignored, not stored."""
    fields: dict[str, float | bool] = {}
    for name in names:
        value = obj.get(name)
        if isinstance(value, bool) and name in BOOLEAN_FIELDS:
            fields[name] = value
        elif value is not None:
            fields[name] = number(obj, name)  # type: ignore[assignment]
    return fields
