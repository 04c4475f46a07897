"""Line protocol for the InfluxDB history store: one Sample, one line, ns precision.

Encoded here rather than by influxdb_client.Point, which turns a trailing backslash
or a newline in a tag value into a different value.  Escaping follows InfluxDB 2's
parser (models/points.go): `,` `=` and space are escaped with a backslash, other
backslashes are literal, and a separator after any backslash counts as escaped.  A tag
value ending in a backslash therefore cannot be written as is: such values (and, to
stay reversible, values ending in a backslash and underscores) are stored with one `_`
appended, which every read removes again (to_tag_value / from_tag_value).  What line
protocol cannot carry at all (line breaks, reserved keys, empty names) raises
UnencodableSampleError; non-finite or non-numeric fields are left out and named.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from services.history.influx_flux import SEQ_FIELD
from services.wire.model import Sample

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ "})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_RESERVED_TAG_KEYS = frozenset({"robot_id", "_measurement", "_field", "_time", "_start",
                                "_stop", "_value", "time"})
_RESERVED_FIELD_KEYS = frozenset({"time", SEQ_FIELD})
_NEEDS_PAD = re.compile(r"\\_*\Z")
_PADDED = re.compile(r"\\_+\Z")


class UnencodableSampleError(ValueError):
    """A sample that line protocol cannot represent faithfully."""


def _checked(text: str, what: str) -> str:
    if not text:
        raise UnencodableSampleError(f"empty {what}")
    if "\n" in text or "\r" in text:
        raise UnencodableSampleError(f"{what} {text!r} contains a line break")
    if text.endswith("\\"):
        # InfluxDB reads a trailing backslash as escaping the separator after it.
        raise UnencodableSampleError(f"{what} {text!r} ends with a backslash")
    return text


def to_tag_value(value: str) -> str:
    """The stored form of a tag value: never ending in a backslash, reversible."""
    return value + "_" if _NEEDS_PAD.search(value) else value


def from_tag_value(stored: str) -> str:
    return stored[:-1] if _PADDED.search(stored) else stored


def escape_key(text: str, what: str = "tag") -> str:
    """Escape a tag key, tag value or field key for line protocol."""
    return _checked(text, what).translate(_KEY_ESCAPES)


def _time_ns(when: datetime) -> int:
    if when.tzinfo is None:
        raise UnencodableSampleError(f"naive timestamp {when.isoformat()}")
    return (when - _EPOCH) // timedelta(microseconds=1) * 1000


def encode_sample(sample: Sample) -> tuple[bytes, tuple[str, ...]]:
    """One line of line protocol (ns precision) and the names of fields left out."""
    measurement = _checked(str(sample.measurement), "measurement")
    if measurement.startswith("#"):
        raise UnencodableSampleError(f"measurement {measurement!r} would be a comment")
    tags = {"robot_id": to_tag_value(sample.robot_id)}
    for key, value in sample.tags.items():
        if key in _RESERVED_TAG_KEYS:
            raise UnencodableSampleError(f"reserved tag key {key!r}")
        if value != "":  # InfluxDB has no empty tag values: an empty tag is no tag
            tags[key] = to_tag_value(value)
    tag_text = "".join(
        f",{escape_key(key, 'tag key')}={escape_key(value, 'tag value')}"
        for key, value in sorted(tags.items())
    )
    parts: list[str] = []
    dropped: list[str] = []
    for key, value in sorted(sample.fields.items()):
        text = _field_text(value)
        if key in _RESERVED_FIELD_KEYS or text is None:
            dropped.append(key)
            continue
        parts.append(f"{escape_key(key, 'field key')}={text}")
    if sample.seq is not None:
        if not INT64_MIN <= sample.seq <= INT64_MAX:
            raise UnencodableSampleError(f"seq {sample.seq} outside int64")
        parts.append(f"{SEQ_FIELD}={int(sample.seq)}i")
    if not parts:
        raise UnencodableSampleError(
            f"no storable fields (left out: {', '.join(dropped) or 'none given'})")
    line = (f"{measurement.translate(_MEASUREMENT_ESCAPES)}{tag_text} "
            f"{','.join(parts)} {_time_ns(sample.time)}")
    return line.encode(), tuple(dropped)


def _field_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = float(value)
        return repr(number) if math.isfinite(number) else None
    return None
