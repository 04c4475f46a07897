"""What a parsed value must be for every store to hold it, and the notes kept on the way.

Whatever the parser accepts is written to SQLite and PostgreSQL 15 (records) and to the
SQL or InfluxDB history.  SQLite stores nearly anything; PostgreSQL refuses a NUL in text
and in JSON, lone surrogates, NaN/Infinity in JSON, over-long VARCHARs and integers past
their column type, and those refusals are permanent for the row.  So the limits of the
strictest store are checked here, once, before a Message exists.

Decisions:
- Free-form text (log messages, reasons, task names, platform, unit, QR data...) is
  REPAIRED, not refused: NUL is stripped and a lone surrogate becomes U+FFFD, each noted
  ("stripped_nul", "replaced_surrogate").  One bad byte in a log line should not cost the
  whole line, and the repaired text still says what the robot meant.  Over-long free text
  is cut to its column width and noted ("truncated:<field>").
- Identifiers (robot ids, sensor types, servo keys) already have a strict ASCII pattern
  and are refused; identity-like text (ip_address, camera_url, job keys, command ids,
  hardware_mode) is refused when too long, since a cut value would name something else.
- Timestamps must convert to UTC without overflow and fall in [TIME_MIN, TIME_MAX):
  1970..2200 is well inside InfluxDB's nanosecond range (1677-09-21..2262-04-11), keeps
  epoch microseconds non-negative for the SQL history, and holds any real robot clock.
- Integers must fit their column (INT32 for jobs.items_*, INT64 for seq); numbers must
  be finite floats (json gives inf for 1e400; float() of a 400-digit int overflows).
- Raw JSON passed through (job last_item, command response details) is bounded by
  MAX_JSON_DEPTH and MAX_TEXT_CHARS serialized, with finite numbers, int64 integers and
  repaired strings (keys included).

Notes are collected per parse in a ContextVar rather than passed through every reader:
the readers stay plain functions, and the console and the ingest each parse in their
own threads, which a ContextVar keeps apart.
"""

from __future__ import annotations

import json
import math
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

MAX_TEXT_CHARS = 10_000
MAX_JSON_DEPTH = 32
MAX_NOTES = 32  # per message; the vocabulary is small, this only bounds a pathological one
TIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
TIME_MAX = datetime(2200, 1, 1, tzinfo=UTC)
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

NOTE_STRIPPED_NUL = "stripped_nul"
NOTE_REPLACED_SURROGATE = "replaced_surrogate"

_SURROGATE = re.compile("[\ud800-\udfff]")
# Line breaks and other C0/C1 controls cannot be line-protocol tag values (InfluxDB).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

_notes: ContextVar[list[str] | None] = ContextVar("wire_parse_notes", default=None)


def start_notes() -> Any:
    """Begin collecting notes for one parse; pass the token to `finish_notes`."""
    return _notes.set([])


def finish_notes(token: Any) -> tuple[str, ...]:
    collected = _notes.get() or []
    _notes.reset(token)
    return tuple(dict.fromkeys(collected))[:MAX_NOTES]


def note(key: str) -> None:
    """Record one reason key; keys come from code (field names), never from a payload."""
    collected = _notes.get()
    if collected is not None and len(collected) < MAX_NOTES * 4:
        collected.append(key)


def clean_text(value: str) -> str:
    """The text with NUL stripped and lone surrogates replaced (each noted)."""
    if "\x00" in value:
        value = value.replace("\x00", "")
        note(NOTE_STRIPPED_NUL)
    if _SURROGATE.search(value):
        value = _SURROGATE.sub("\ufffd", value)
        note(NOTE_REPLACED_SURROGATE)
    return value


def has_control(value: str) -> bool:
    return _CONTROL.search(value) is not None


def utc_in_window(moment: datetime) -> datetime | None:
    """The aware moment in UTC, or None when it overflows or lies outside the window."""
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return utc if TIME_MIN <= utc < TIME_MAX else None


class UnstorableJson(ValueError):
    """A raw JSON value no store should be asked to keep; `why` is a short note word."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def clean_json(value: Any) -> Any:
    """A copy of a raw JSON value that every store holds; raise UnstorableJson if none.

    Strings (keys too) are repaired like free text; non-finite floats, integers past
    int64, nesting deeper than MAX_JSON_DEPTH and anything over MAX_TEXT_CHARS
    serialized are refused.
    """
    cleaned = _clean(value, 0)
    try:
        size = len(json.dumps(cleaned, ensure_ascii=False, allow_nan=False))
    except (ValueError, TypeError) as exc:  # unreachable after _clean; kept as a guard
        raise UnstorableJson("type") from exc
    if size > MAX_TEXT_CHARS:
        raise UnstorableJson("too_large")
    return cleaned


def _clean(value: Any, depth: int) -> Any:
    if depth > MAX_JSON_DEPTH:
        raise UnstorableJson("too_deep")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise UnstorableJson("range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnstorableJson("not_finite")
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            raise UnstorableJson("too_large")
        return clean_text(value)
    if isinstance(value, list | tuple):
        if len(value) > MAX_TEXT_CHARS:
            raise UnstorableJson("too_large")
        return [_clean(item, depth + 1) for item in value]
    if isinstance(value, dict):
        if len(value) > MAX_TEXT_CHARS:
            raise UnstorableJson("too_large")
        return {clean_text(str(key)): _clean(item, depth + 1) for key, item in value.items()}
    raise UnstorableJson("type")
