"""A line-protocol parser with the rules of InfluxDB 2's own (models/points.go).

- Lines are separated by `\\n`; blank lines and lines starting with `#` are skipped.
- Measurement: `\\,` and `\\ ` are escapes.  Tag keys, tag values and field keys: `\\,`,
  `\\ ` and `\\=`.  Any other backslash is literal, and a separator counts as escaped
  whenever a backslash precedes it (so a value cannot end with a backslash).
- Field values: `"..."` strings (`\\"` and `\\\\` escapes), `123i` integers (int64),
  `123u` unsigned (uint64), t/T/true/True/TRUE and f/F/false/False/FALSE, floats in
  decimal or exponent notation (no NaN or Inf).
- Timestamp: optional integer in the request's precision; the server's clock when
  absent.  Empty tag values, duplicate tag keys, missing fields are errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

PRECISION_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
# InfluxDB's valid time range (models.MinNanoTime / MaxNanoTime).
MIN_TIME_NS = -9_223_372_036_854_775_806
MAX_TIME_NS = 9_223_372_036_854_775_806

_FLOAT = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INT = re.compile(r"-?\d+i")
_UINT = re.compile(r"\d+u")
_TIMESTAMP = re.compile(r"-?\d+")
_TRUE = frozenset({"t", "T", "true", "True", "TRUE"})
_FALSE = frozenset({"f", "F", "false", "False", "FALSE"})
_MEASUREMENT_ESCAPES = {"\\,": ",", "\\ ": " "}
_KEY_ESCAPES = {"\\,": ",", "\\ ": " ", "\\=": "="}


class LineProtocolError(ValueError):
    def __init__(self, line: str, reason: str) -> None:
        super().__init__(f"unable to parse '{line}': {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ParsedPoint:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, Any]  # float, int, bool or str; UInt for `u` values
    time_ns: int


class UInt(int):
    """An unsigned integer field value (`123u`), distinct from a signed one."""


def parse_lines(body: str, precision: str, now_ns: int) -> list[ParsedPoint]:
    """Every point of a write body; LineProtocolError for the first bad line."""
    if precision not in PRECISION_NS:
        raise ValueError(f"invalid precision {precision!r}")
    points = []
    for raw in body.split("\n"):
        line = raw.rstrip("\r").lstrip(" \t")
        if not line.strip() or line.startswith("#"):
            continue
        points.append(parse_line(line, precision, now_ns))
    return points


def _find(text: str, chars: str, start: int = 0) -> int:
    """Index of the first char of `chars` not preceded by a backslash, or len(text)."""
    for index in range(start, len(text)):
        if text[index] in chars and (index == 0 or text[index - 1] != "\\"):
            return index
    return len(text)


def _split(text: str, sep: str) -> list[str]:
    parts, start = [], 0
    while True:
        end = _find(text, sep, start)
        parts.append(text[start:end])
        if end >= len(text):
            return parts
        start = end + 1


def _unescape(text: str, escapes: dict[str, str]) -> str:
    for escaped, plain in escapes.items():
        text = text.replace(escaped, plain)
    return text


def parse_line(line: str, precision: str, now_ns: int) -> ParsedPoint:
    key_end = _find(line, " ")
    if key_end >= len(line):
        raise LineProtocolError(line, "missing fields")
    measurement_text, *tag_texts = _split(line[:key_end], ",")
    measurement = _unescape(measurement_text, _MEASUREMENT_ESCAPES)
    if not measurement:
        raise LineProtocolError(line, "missing measurement")
    tags: dict[str, str] = {}
    for tag_text in tag_texts:
        eq = _find(tag_text, "=")
        if eq >= len(tag_text):
            raise LineProtocolError(line, "missing tag value")
        key = _unescape(tag_text[:eq], _KEY_ESCAPES)
        value = _unescape(tag_text[eq + 1:], _KEY_ESCAPES)
        if not key:
            raise LineProtocolError(line, "missing tag key")
        if not value:
            raise LineProtocolError(line, "missing tag value")
        if key in tags:
            raise LineProtocolError(line, "duplicate tags")
        tags[key] = value
    rest = line[key_end:].lstrip(" ")
    fields, end = _parse_fields(line, rest)
    time_text = rest[end:].strip(" \t")
    return ParsedPoint(measurement, tags, fields, _timestamp(line, time_text, precision, now_ns))


def _parse_fields(line: str, text: str) -> tuple[dict[str, Any], int]:
    """Fields from the start of `text`; returns them and where the field set ended."""
    fields: dict[str, Any] = {}
    pos = 0
    while True:
        eq = _find(text, "= ", pos)
        if eq >= len(text) or text[eq] != "=":
            raise LineProtocolError(line, "missing field value")
        key = _unescape(text[pos:eq], _KEY_ESCAPES)
        if not key:
            raise LineProtocolError(line, "missing field key")
        value, pos = _field_value(line, text, eq + 1)
        fields[key] = value
        if pos >= len(text) or text[pos] == " ":
            return fields, pos
        pos += 1  # the comma before the next field


def _field_value(line: str, text: str, pos: int) -> tuple[Any, int]:
    if pos < len(text) and text[pos] == '"':
        chars: list[str] = []
        index = pos + 1
        while index < len(text):
            char = text[index]
            if char == "\\" and index + 1 < len(text) and text[index + 1] in '"\\':
                chars.append(text[index + 1])
                index += 2
            elif char == '"':
                end = index + 1
                if end < len(text) and text[end] not in ", ":
                    raise LineProtocolError(line, "invalid field format")
                return "".join(chars), end
            else:
                chars.append(char)
                index += 1
        raise LineProtocolError(line, "unbalanced quotes")
    end = pos
    while end < len(text) and text[end] not in ", ":
        end += 1
    token = text[pos:end]
    if not token:
        raise LineProtocolError(line, "missing field value")
    return _scalar(line, token), end


def _scalar(line: str, token: str) -> Any:
    if token in _TRUE:
        return True
    if token in _FALSE:
        return False
    if _INT.fullmatch(token):
        value = int(token[:-1])
        if not -(2**63) <= value < 2**63:
            raise LineProtocolError(line, f"unable to parse integer {token}: value out of range")
        return value
    if _UINT.fullmatch(token):
        value = int(token[:-1])
        if value >= 2**64:
            raise LineProtocolError(line, f"unable to parse unsigned {token}: value out of range")
        return UInt(value)
    if _FLOAT.fullmatch(token):
        return float(token)
    raise LineProtocolError(line, f"invalid number: {token}")


def _timestamp(line: str, text: str, precision: str, now_ns: int) -> int:
    if not text:
        return now_ns
    if not _TIMESTAMP.fullmatch(text):
        raise LineProtocolError(line, f"bad timestamp {text!r}")
    time_ns = int(text) * PRECISION_NS[precision]
    if not MIN_TIME_NS <= time_ns <= MAX_TIME_NS:
        raise LineProtocolError(line, "time outside range")
    return time_ns
