"""What the History page asks the stores, and what comes back: signal names and units,
the query result, alert/job overlays and alert thresholds.  Runs in the page's worker
(plain values in, plain values out; no widgets touched here)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.alerts.rules import METRICS
from services.history.base import Bucket, HistoryStore, SeriesKey
from services.history_overlays import HistoryOverlays, Limits, Marker, Span

logger = logging.getLogger(__name__)

NO_UNIT = ""
# Units by field; the same field name means the same quantity in every measurement here.
FIELD_UNITS = {
    "cpu_percent": "%", "memory_percent": "%", "disk_percent": "%", "cpu_temperature": "°C",
    "uptime_s": "s", "percentage": "%", "voltage": "V", "current": "A", "temperature": "°C",
    "position": "°", "load": "%", "accel_x": "m/s²", "accel_y": "m/s²", "accel_z": "m/s²",
    "gyro_x": "°/s", "gyro_y": "°/s", "gyro_z": "°/s",
}
SENSOR_UNITS = {"ultrasonic_distance": "cm", "light_level": "%"}  # by sensor_type
# (measurement, field) -> alert metric type, for the threshold lines
METRIC_OF = {(str(m.measurement), m.field): m.metric_type for m in METRICS.values()}

Signal_ = tuple[str, SeriesKey]  # (robot_id, series key)


def servo_number(series: str) -> str:
    """'servo_3' (the agent's tag) or '3' (legacy robots) -> '3'."""
    return series.removeprefix("servo_")


def signal_label(robot_id: str, key: SeriesKey) -> str:
    text = f"{robot_id} {key.measurement}.{key.field}"
    if key.series:
        text += (f" servo {servo_number(key.series)}" if key.measurement == "servos"
                 else f" [{key.series}]")
    return text


def leaf_label(key: SeriesKey) -> str:
    """The name of a signal under its robot and measurement in the signal tree."""
    if not key.series:
        return key.field
    if key.measurement == "servos":
        return f"{key.field} · servo {servo_number(key.series)}"
    return f"{key.field} · {key.series}"


def unit_of(key: SeriesKey) -> str:
    if key.measurement == "sensors" and key.series in SENSOR_UNITS:
        return SENSOR_UNITS[key.series]
    return FIELD_UNITS.get(key.field, NO_UNIT)


def metric_of(key: SeriesKey) -> str | None:
    return METRIC_OF.get((key.measurement, key.field))


def series_sort_key(key: SeriesKey) -> tuple[str, str, int, str]:
    """Servo 2 before servo 10: numeric series ids sort as numbers."""
    series = servo_number(key.series)
    return key.measurement, key.field, int(series) if series.isdigit() else -1, key.series


@dataclass(frozen=True)
class QueryResult:
    start: datetime
    stop: datetime
    max_points: int
    buckets: dict[str, tuple[str, SeriesKey, list[Bucket]]]  # label -> (robot, key, data)
    markers: list[Marker]
    spans: list[Span]
    # robot -> metric type -> (warning, critical), enabled thresholds only
    thresholds: dict[str, dict[str, Limits]] = field(default_factory=dict)

    def bucket_s(self) -> float:
        return (self.stop - self.start).total_seconds() / max(1, self.max_points)


def load_catalog(store: HistoryStore) -> dict[str, list[SeriesKey]]:
    """Every robot the store knows with its signals (worker thread)."""
    return {robot: sorted(store.list_fields(robot), key=series_sort_key)
            for robot in store.list_robots()}


def threshold_lines(signals: Iterable[Signal_], thresholds: dict[str, dict[str, Limits]]
                    ) -> list[tuple[float, str]]:
    """Warning and critical lines for a group of signals on one axis, or none when the
    group mixes metrics (or robots whose limits differ): a line must be unambiguous."""
    metrics, limits = set(), set()
    for robot, key in signals:
        metric = metric_of(key)
        metrics.add(metric)
        limits.add(thresholds.get(robot, {}).get(metric) if metric else None)
    if len(metrics) != 1 or len(limits) != 1 or None in limits:
        return []
    warning, critical = limits.pop()
    return [(warning, "warning"), (critical, "critical")]


def run_history_query(store: HistoryStore, database: Any, chosen: list[Signal_],
                      start: datetime, stop: datetime, max_points: int) -> QueryResult:
    """The whole answer to one Show or zoom: buckets, overlays and thresholds."""
    robots = sorted({robot for robot, _ in chosen})
    buckets = {signal_label(robot, key): (robot, key, store.query(
        robot, key.measurement, key.field, start, stop, max_points, key.series))
        for robot, key in chosen}
    markers: list[Marker] = []
    spans: list[Span] = []
    thresholds: dict[str, dict[str, Limits]] = {}
    if database is not None:
        overlays = HistoryOverlays(database)
        markers, spans = overlays.markers_and_spans(robots, start, stop)
        thresholds = overlays.thresholds(robots)
    return QueryResult(start, stop, max_points, buckets, markers, spans, thresholds)
