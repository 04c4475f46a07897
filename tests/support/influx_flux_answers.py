"""Answers to the history store's own Flux templates, computed from stored points.

This is not a Flux interpreter: the query text must be one of the templates in
services.history.influx_flux, and their meaning is re-implemented here in Python.
Parameters arrive as influxdb-client sends them: an `extern` file whose body holds one
OptionStatement per parameter, each a typed literal (String, Integer, UnsignedInteger,
Float, Boolean, DateTime, Duration, a negated Duration, arrays; an ObjectExpression
such as a `params` record becomes a dict).  Results are rendered as InfluxDB's
annotated CSV: #datatype, #group, #default rows, a header, a blank line before each
new schema, CRLF line ends.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from services.history import influx_flux as flux
from tests.support.influx_line_protocol import UInt

DURATION_UNIT_NS = {
    "ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
    "m": 60_000_000_000, "h": 3_600_000_000_000, "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
}
_DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z")


class FluxError(Exception):
    """An error InfluxDB would answer with: HTTP status, error code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class TimeNs(int):
    """A time value (DateTimeLiteral) in nanoseconds since the epoch."""


@dataclass(frozen=True, slots=True)
class Duration:
    ns: int


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    datatype: str  # string, long, unsignedLong, double, boolean, dateTime:RFC3339
    group: bool = False


@dataclass(slots=True)
class Table:
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)


# -- parameters --------------------------------------------------------------------

def decode_extern(extern: Any) -> dict[str, Any]:
    """Parameter values from the `extern` block; FluxError(400) for what is not a literal."""
    if extern is None:
        return {}
    try:
        body = extern.get("body") or []
        params = {}
        for statement in body:
            if statement.get("type") != "OptionStatement":
                raise ValueError(f"unexpected statement {statement.get('type')}")
            assignment = statement["assignment"]
            if assignment.get("type") != "VariableAssignment":
                raise ValueError(f"unsupported assignment {assignment.get('type')}")
            params[assignment["id"]["name"]] = decode_literal(assignment["init"])
        return params
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise FluxError(400, "invalid", f"error decoding extern: {exc}") from exc


def decode_literal(node: dict[str, Any]) -> Any:
    kind = node.get("type")
    value = node.get("value")
    if kind == "StringLiteral":
        return str(value)
    if kind == "IntegerLiteral":
        return int(value)
    if kind == "UnsignedIntegerLiteral":
        return UInt(int(value))
    if kind == "FloatLiteral":
        return float(value)
    if kind == "BooleanLiteral":
        if not isinstance(value, bool):
            raise ValueError(f"boolean literal {value!r}")
        return value
    if kind == "DateTimeLiteral":
        return TimeNs(parse_rfc3339_ns(str(value)))
    if kind == "DurationLiteral":
        return Duration(sum(int(part["magnitude"]) * DURATION_UNIT_NS[part["unit"]]
                            for part in node["values"]))
    if kind == "UnaryExpression" and node.get("operator") == "-":
        inner = decode_literal(node["argument"])
        if isinstance(inner, Duration):
            return Duration(-inner.ns)
        if isinstance(inner, int | float) and not isinstance(inner, bool):
            return -inner
        raise ValueError(f"cannot negate {inner!r}")
    if kind == "ArrayExpression":
        return [decode_literal(element) for element in node["elements"]]
    if kind == "ObjectExpression":
        return {prop["key"]["name"]: decode_literal(prop["value"])
                for prop in node["properties"]}
    raise ValueError(f"unsupported expression {kind}")


def parse_rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch of a UTC RFC3339 time such as the client sends."""
    match = _DATETIME.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC3339 UTC time: {text!r}")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    days = _days_from_civil(year, month, day)
    fraction = int((match.group(7) or "").ljust(9, "0") or 0)
    return ((days * 24 + hour) * 60 + minute) * 60_000_000_000 + second * 1_000_000_000 + fraction


def _days_from_civil(year: int, month: int, day: int) -> int:
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def format_rfc3339_ns(time_ns: int) -> str:
    """RFC3339 with nanoseconds, trailing zeros trimmed, as Flux writes times."""
    seconds, fraction = divmod(time_ns, 1_000_000_000)
    days, rest = divmod(seconds, 86_400)
    year, month, day = _civil_from_days(days)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"


def _civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


# -- the templates -----------------------------------------------------------------

def answer(query: str, params: dict[str, Any], points: Sequence[Any], bucket: str) -> list[Table]:
    """Tables for one of the store's templates; FluxError for anything else."""
    if query == flux.DOWNSAMPLE:
        return _downsample(params, points, bucket)
    if query == flux.LIST_ROBOTS:
        return _list_robots(params, points, bucket)
    if query == flux.LIST_FIELDS:
        return _list_fields(params, points, bucket)
    raise FluxError(400, "invalid", "compilation failed: the InfluxDB emulator answers only "
                                    "the history store's Flux templates")


def _param(params: dict[str, Any], name: str, kind: type) -> Any:
    if name not in params:
        raise FluxError(400, "invalid", f"compilation failed: undefined identifier {name}")
    value = params[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise FluxError(400, "invalid", f"type error: {name} is not a {kind.__name__}")
    return value


def _range(params: dict[str, Any], points: Iterable[Any], bucket: str) -> list[Any]:
    if _param(params, flux.P_BUCKET, str) != bucket:
        raise FluxError(404, "not found", "failed to initialize execute state: could not "
                                          f'find bucket "{params[flux.P_BUCKET]}"')
    start = _param(params, flux.P_START, TimeNs)
    stop = _param(params, flux.P_STOP, TimeNs)
    if stop <= start:
        raise FluxError(400, "invalid", "cannot query an empty range")
    return [point for point in points if start <= point.time_ns < stop]


def _series(tags: dict[str, str]) -> str:
    return next((tags[tag] for tag in flux.SERIES_TAGS if tags.get(tag)), "")


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool | int | float):
        return float(value)
    try:
        return float(value)
    except ValueError:
        return None


def _downsample(params: dict[str, Any], points: Sequence[Any], bucket: str) -> list[Table]:
    start = _param(params, flux.P_START, TimeNs)
    every = _param(params, flux.P_EVERY, Duration).ns
    offset = _param(params, flux.P_OFFSET, Duration).ns
    if every <= 0:
        raise FluxError(400, "invalid", "window every must be positive")
    wanted = (_param(params, flux.P_MEASUREMENT, str), _param(params, flux.P_ROBOT_ID, str))
    field_key = _param(params, flux.P_FIELD, str)
    series = _param(params, flux.P_SERIES, str)
    windows: dict[int, list[float]] = defaultdict(list)
    for point in _range(params, points, bucket):
        if ((point.measurement, point.tags.get("robot_id")) != wanted
                or field_key not in point.fields or _series(point.tags) != series):
            continue
        value = _as_float(point.fields[field_key])
        if value is not None:
            window = (point.time_ns - offset) // every * every + offset
            windows[max(window, start)].append(value)
    if not windows:
        return []
    table = Table([Column("_start", "dateTime:RFC3339"), Column("count", "double"),
                   Column("max", "double"), Column("mean", "double"), Column("min", "double")])
    for window_start in sorted(windows):
        values = windows[window_start]
        table.rows.append([window_start, float(len(values)), max(values),
                           math.fsum(values) / len(values), min(values)])
    return [table]


def _list_robots(params: dict[str, Any], points: Sequence[Any], bucket: str) -> list[Table]:
    robots = sorted({point.tags["robot_id"] for point in _range(params, points, bucket)
                     if "robot_id" in point.tags})
    if not robots:
        return []
    return [Table([Column("_value", "string")], [[robot] for robot in robots])]


def _list_fields(params: dict[str, Any], points: Sequence[Any], bucket: str) -> list[Table]:
    robot_id = _param(params, flux.P_ROBOT_ID, str)
    series: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
    for point in _range(params, points, bucket):
        if point.tags.get("robot_id") != robot_id:
            continue
        kept_tags = tuple(sorted((key, value) for key, value in point.tags.items()
                                 if key in flux.SERIES_TAGS))
        series.update((point.measurement, key, kept_tags) for key in point.fields
                      if key != flux.SEQ_FIELD)
    tables = []
    for measurement, field_key, kept_tags in sorted(series):
        columns = [Column("_field", "string", True), Column("_measurement", "string", True)]
        columns += [Column(key, "string", True) for key, _ in kept_tags]
        tables.append(Table(columns, [[field_key, measurement, *(v for _, v in kept_tags)]]))
    return tables


# -- annotated CSV -----------------------------------------------------------------

def _cell(value: Any, datatype: str) -> str:
    if value is None:
        return ""
    if datatype == "dateTime:RFC3339":
        return format_rfc3339_ns(value)
    if datatype == "boolean":
        return "true" if value else "false"
    if datatype == "double":
        return format(Decimal(repr(float(value))), "f").removesuffix(".0") \
            if math.isfinite(value) else ("NaN" if math.isnan(value) else
                                          ("+Inf" if value > 0 else "-Inf"))
    return str(value)


def to_annotated_csv(tables: Sequence[Table]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    schema = None
    for table_id, table in enumerate(tables):
        if table.columns != schema:
            if schema is not None:
                out.write("\r\n")
            schema = table.columns
            writer.writerow(["#datatype", "string", "long", *(c.datatype for c in schema)])
            writer.writerow(["#group", "false", "false",
                             *("true" if c.group else "false" for c in schema)])
            writer.writerow(["#default", "_result", "", *("" for _ in schema)])
            writer.writerow(["", "result", "table", *(c.label for c in schema)])
        for row in table.rows:
            writer.writerow(["", "", str(table_id),
                             *(_cell(value, c.datatype) for value, c in zip(row, schema,
                                                                           strict=True))])
    out.write("\r\n")
    return out.getvalue()
