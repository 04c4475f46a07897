"""What the alert rules compare: the metric table, the settings, severity levels, wording.

Pure values and functions only; engine.py keeps the per-(robot, alert type, source)
state machines that use them.  No database, no MQTT: the thresholds arrive as
services.records.repositories.Threshold values through a callable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from services.vocabulary import CRITICAL, WARNING
from services.wire.model import Measurement

if TYPE_CHECKING:  # only the type: keeps the rules importable without SQLAlchemy
    from services.records.repositories import Threshold


NETWORK_ALERT_TYPE = "network"
CONNECTIVITY_SOURCE = "connectivity"
SYSTEM_ALERT_TYPE = "system"
EMERGENCY_SOURCE = "emergency_stop"
CONNECTIVITY_OK = "ok"
CONNECTIVITY_STALE = "stale"
CONNECTIVITY_OFFLINE = "offline"  # the connection is lost: a last will, or long silence
CONNECTIVITY_STOPPED = "stopped"  # the robot said goodbye itself: a clean stop, no alert
CONNECTIVITY_STATES = (CONNECTIVITY_OK, CONNECTIVITY_STALE, CONNECTIVITY_OFFLINE,
                       CONNECTIVITY_STOPPED)
# Connectivity states that end an open network alert (the robot is talking, or left on
# purpose) and re-arm one held after a manual resolve.
CONNECTIVITY_FINE = (CONNECTIVITY_OK, CONNECTIVITY_STOPPED)

TITLE_MAX_LEN = 200  # alerts.title is String(200)


@dataclass(frozen=True, slots=True)
class Metric:
    """One row of the spec's metric table plus the words and unit used to describe it.

    `source` None means the source is per series (servo_<n>, from the servo_id tag);
    `title` and `subject` are format strings taking {source}.
    """

    metric_type: str
    measurement: Measurement
    field: str
    alert_type: str
    source: str | None
    title: str
    subject: str
    unit: str


METRICS: Mapping[str, Metric] = MappingProxyType({m.metric_type: m for m in (
    Metric("cpu", Measurement.PERFORMANCE, "cpu_percent", "performance", "cpu",
           "CPU usage", "CPU usage", "%"),
    Metric("memory", Measurement.PERFORMANCE, "memory_percent", "performance", "memory",
           "Memory usage", "Memory usage", "%"),
    Metric("disk", Measurement.PERFORMANCE, "disk_percent", "performance", "disk",
           "Disk usage", "Disk usage", "%"),
    Metric("temperature", Measurement.PERFORMANCE, "cpu_temperature", "temperature",
           "cpu_temperature", "CPU temperature", "CPU temperature", "°C"),
    Metric("battery", Measurement.BATTERY, "percentage", "battery", "battery",
           "Battery level", "Battery level", "%"),
    Metric("servo_temp", Measurement.SERVOS, "temperature", "servo", None,
           "Servo {source} temperature", "{source}", "°C"),
)})

# Which metrics one sample of a measurement can feed, in table order (deterministic output).
SAMPLE_METRICS: Mapping[Measurement, tuple[Metric, ...]] = MappingProxyType({
    measurement: tuple(m for m in METRICS.values() if m.measurement == measurement)
    for measurement in {m.measurement for m in METRICS.values()}
})

# Absolute clear margins: a servo warning at 60 °C clears only at <= 57 °C.
DEFAULT_HYSTERESIS: Mapping[str, float] = MappingProxyType({
    "cpu": 5.0, "memory": 5.0, "disk": 2.0, "temperature": 3.0, "battery": 3.0,
    "servo_temp": 3.0,
})


@dataclass(frozen=True)
class RuleSettings:
    """Timings in seconds of *sample* time, so replayed or batched data behaves as live.

    `hysteresis` entries override the defaults per metric type; metrics missing from
    both clear right at the warning threshold.  `thresholds_ttl_s` is how long (sample
    time) a robot's thresholds are cached; `max_keys` caps the states kept in memory.
    """

    raise_after_s: float = 10.0
    clear_after_s: float = 10.0
    hysteresis: Mapping[str, float] = field(default_factory=dict)
    thresholds_ttl_s: float = 30.0
    max_keys: int = 100_000

    def __post_init__(self) -> None:
        for name in ("raise_after_s", "clear_after_s", "thresholds_ttl_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
        if self.max_keys < 1:
            raise ValueError(f"max_keys must be >= 1, not {self.max_keys!r}")
        merged = dict(DEFAULT_HYSTERESIS)
        for metric_type, margin in self.hysteresis.items():
            margin = float(margin)
            if not math.isfinite(margin) or margin < 0:
                raise ValueError(f"hysteresis for {metric_type} must be >= 0, not {margin!r}")
            merged[metric_type] = margin
        # Frozen: the default instance is shared, so its mapping must not be mutable.
        object.__setattr__(self, "hysteresis", MappingProxyType(merged))

    def margin(self, metric_type: str) -> float:
        return self.hysteresis.get(metric_type, 0.0)


def beyond(value: float, limit: float, low_is_bad: bool) -> bool:
    """True when `value` is at or past `limit` on the bad side."""
    return value <= limit if low_is_bad else value >= limit


def level(value: float, threshold: Threshold) -> str | None:
    """The severity the value alone calls for, None when it is within limits."""
    if beyond(value, threshold.critical, threshold.low_is_bad):
        return CRITICAL
    if beyond(value, threshold.warning, threshold.low_is_bad):
        return WARNING
    return None


def clear_limit(threshold: Threshold, margin: float) -> float:
    """The value a metric must be back past (warning level minus the margin) to clear."""
    return threshold.warning + margin if threshold.low_is_bad else threshold.warning - margin


def is_clear(value: float, threshold: Threshold, margin: float) -> bool:
    limit = clear_limit(threshold, margin)
    return value >= limit if threshold.low_is_bad else value <= limit


def servo_source(series: str) -> str:
    """servo_<n> from a servo_id tag: own-format tags already read servo_3, legacy may say 3."""
    return f"servo_{series}" if series.isdigit() else series


def number(value: float) -> str:
    """Thresholds as written by people: 75, 57.5 (no trailing .0)."""
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"


def duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{number(round(seconds / 60, 1))} min"
    return f"{number(round(seconds, 1))} s"


def _with_unit(value: str, unit: str) -> str:
    return f"{value} {unit}"


def breach_text(metric: Metric, source: str, severity: str, value: float,
                limit: float, low_is_bad: bool, held_s: float) -> tuple[str, str]:
    """("Servo servo_3 temperature critical", "servo_3 at 76.2 °C (critical >= 75 °C) for
    10 s")."""
    title = f"{metric.title.format(source=source)} {severity}"
    sign = "<=" if low_is_bad else ">="
    message = (f"{metric.subject.format(source=source)} at "
               f"{_with_unit(f'{value:.1f}', metric.unit)} "
               f"({severity} {sign} {_with_unit(number(limit), metric.unit)}) "
               f"for {duration(held_s)}")
    return title[:TITLE_MAX_LEN], message


def cleared_text(metric: Metric, source: str, value: float, threshold: Threshold,
                 margin: float, held_s: float) -> tuple[str, str]:
    title = f"{metric.title.format(source=source)} back to normal"
    sign = ">=" if threshold.low_is_bad else "<="
    limit = clear_limit(threshold, margin)
    message = (f"{metric.subject.format(source=source)} at "
               f"{_with_unit(f'{value:.1f}', metric.unit)} "
               f"({sign} {_with_unit(number(limit), metric.unit)}: warning "
               f"{_with_unit(number(threshold.warning), metric.unit)} with a "
               f"{_with_unit(number(margin), metric.unit)} margin) for {duration(held_s)}")
    return title[:TITLE_MAX_LEN], message


def disabled_text(metric: Metric, source: str) -> tuple[str, str]:
    title = f"{metric.title.format(source=source)} alert closed"
    message = (f"{metric.subject.format(source=source)}: the {metric.metric_type} "
               f"threshold is disabled or removed, so the alert no longer applies")
    return title[:TITLE_MAX_LEN], message


def connectivity_text(robot_id: str, state: str,
                      cause: str | None = None) -> tuple[str, str]:
    """Title and message; `cause` says how a lost connection was noticed."""
    if state == CONNECTIVITY_OFFLINE:
        why = cause or "no data received"
        return "Robot connection lost", f"{robot_id} lost its connection: {why}"
    if state == CONNECTIVITY_STALE:
        return "Robot connection stale", f"{robot_id} has stopped sending data (stale)"
    if state == CONNECTIVITY_STOPPED:
        return "Robot stopped cleanly", f"{robot_id} said goodbye (a clean stop)"
    return "Robot connection restored", f"{robot_id} is sending data again"


def emergency_text(robot_id: str, stopped: bool, reason: str | None) -> tuple[str, str]:
    if stopped:
        why = reason.strip() if reason and reason.strip() else "no reason given"
        return "Emergency stop engaged", f"{robot_id} is emergency-stopped: {why}"
    return "Emergency stop released", f"{robot_id} emergency stop released"
