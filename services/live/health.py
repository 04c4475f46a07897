"""Health rules of the fleet overview: thresholds, emergency, staleness, offline.

Pure functions over a robot's latest values, so the rules are testable without MQTT and
the same in every view.  Levels follow ROS diagnostics (OK < WARN < ERROR < STALE) plus
OFFLINE; a robot's health is the worst of everything that applies, and its reasons are
listed worst first so the first one explains the colour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from services.live.model import Health

MAX_STALE_REASONS = 3  # beyond this the stale signals are summarised in one reason


@dataclass(frozen=True, slots=True)
class Threshold:
    """Alert limits of one metric. With `low_is_bad` (battery) the bad values are the
    ones at or below the limits, otherwise at or above."""

    warning: float
    critical: float
    low_is_bad: bool = False

    def level(self, value: float) -> Health:
        if self.low_is_bad:
            if value <= self.critical:
                return Health.ERROR
            return Health.WARN if value <= self.warning else Health.OK
        if value >= self.critical:
            return Health.ERROR
        return Health.WARN if value >= self.warning else Health.OK


class ThresholdLike(Protocol):
    """Ours or services.records.repositories.Threshold (which also has `enabled`)."""

    warning: float
    critical: float
    low_is_bad: bool


# Keys and values of the records' alert_thresholds seed, so an unconfigured console
# judges like the server does.
DEFAULT_THRESHOLDS: Mapping[str, Threshold] = MappingProxyType({
    "cpu": Threshold(70.0, 90.0),
    "memory": Threshold(75.0, 90.0),
    "temperature": Threshold(70.0, 80.0),  # CPU temperature, deg C
    "battery": Threshold(20.0, 10.0, low_is_bad=True),
    "servo_temp": Threshold(60.0, 75.0),
    "disk": Threshold(80.0, 95.0),  # seeded by migration 0005
})
SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400


@dataclass(frozen=True, slots=True)
class Readings:
    """Everything the rules look at for one robot at one instant."""

    status: str = "online"  # as the robot last said: online, offline, error, maintenance
    emergency_stopped: bool = False
    emergency_reason: str | None = None
    battery_percent: float | None = None
    cpu_percent: float | None = None
    memory_percent: float | None = None
    cpu_temperature: float | None = None
    servo_temperatures: Mapping[str, float] = field(default_factory=dict)
    stale_signals: Sequence[tuple[str, float]] = ()  # (label, age_s), oldest first
    silent_s: float | None = None  # since the robot's last message; None: never heard
    offline_marked: bool = False  # last will, goodbye or mark_offline()
    offline_clean: bool = False  # the project's agent said goodbye on a clean stop
    heard_live: bool = True  # False: listed by the records, no message since the start


def format_duration(seconds: float) -> str:
    """42 s, 12 min, 3 h, 2 d: a silence an operator reads at a glance."""
    if seconds < SECONDS_PER_MINUTE:
        return f"{seconds:.0f} s"
    if seconds < SECONDS_PER_HOUR:
        return f"{seconds // SECONDS_PER_MINUTE:.0f} min"
    if seconds < SECONDS_PER_DAY:
        return f"{seconds // SECONDS_PER_HOUR:.0f} h"
    return f"{seconds // SECONDS_PER_DAY:.0f} d"


def effective_threshold(thresholds: Mapping[str, ThresholdLike],
                        metric: str) -> Threshold | None:
    """The metric's limits as our Threshold, None when absent or disabled."""
    limits = thresholds.get(metric)
    if limits is None or not getattr(limits, "enabled", True):
        return None
    return Threshold(limits.warning, limits.critical, limits.low_is_bad)


def value_levels(readings: Readings, thresholds: Mapping[str, ThresholdLike]
                 ) -> dict[str, Health]:
    """Per metric type, the level of the value shown (WARN or ERROR; OK ones left out).
    servo_temp is the worst servo's, which the fleet table shows as the hottest."""
    levels: dict[str, Health] = {}
    values = {"cpu": [readings.cpu_percent], "memory": [readings.memory_percent],
              "temperature": [readings.cpu_temperature],
              "battery": [readings.battery_percent],
              "servo_temp": list(readings.servo_temperatures.values())}
    for metric, found in values.items():
        limits = effective_threshold(thresholds, metric)
        if limits is None:
            continue
        level = max((limits.level(v) for v in found if v is not None), default=Health.OK)
        if level is not Health.OK:
            levels[metric] = level
    return levels


def _checked(thresholds: Mapping[str, ThresholdLike], metric: str, value: float | None,
             label: str, unit: str) -> tuple[Health, str] | None:
    limits = effective_threshold(thresholds, metric)
    if value is None or limits is None:
        return None
    level = limits.level(value)
    if level is Health.OK:
        return None
    limit = limits.critical if level is Health.ERROR else limits.warning
    sign = "<=" if limits.low_is_bad else ">="
    return level, f"{label} {value:.1f}{unit} {sign} {limit:g}"


def _stale_reasons(stale: Sequence[tuple[str, float]]) -> list[tuple[Health, str]]:
    if len(stale) <= MAX_STALE_REASONS:
        return [(Health.STALE, f"{label} stale for {age:.1f} s") for label, age in stale]
    oldest = max(age for _, age in stale)
    return [(Health.STALE, f"{len(stale)} signals stale, up to {oldest:.1f} s")]


def evaluate(readings: Readings, thresholds: Mapping[str, ThresholdLike] = DEFAULT_THRESHOLDS,
             offline_after_s: float = 30.0) -> tuple[Health, tuple[str, ...]]:
    """(worst health, reasons worst first) for one robot."""
    found: list[tuple[Health, str]] = []
    if not readings.heard_live:
        return _records_only(readings, offline_after_s)
    if readings.offline_marked or readings.status == "offline":
        # Our agent's goodbye says clean; its last will and legacy robots' offline do not.
        found.append((Health.OFFLINE, "stopped cleanly" if readings.offline_clean
                      else "went offline (last will or goodbye)"))
    elif readings.silent_s is not None and readings.silent_s >= offline_after_s:
        found.append((Health.OFFLINE, f"silent for {format_duration(readings.silent_s)}"))
    found += _stale_reasons(readings.stale_signals)
    if readings.emergency_stopped:
        found.append((Health.ERROR, f"emergency stop: {readings.emergency_reason or 'engaged'}"))
    elif readings.status == "error":
        found.append((Health.ERROR, "robot reports an error"))
    for metric, value, label, unit in (
            ("cpu", readings.cpu_percent, "cpu", " %"),
            ("memory", readings.memory_percent, "memory", " %"),
            ("temperature", readings.cpu_temperature, "cpu temperature", " °C"),
            ("battery", readings.battery_percent, "battery", " %")):
        if (hit := _checked(thresholds, metric, value, label, unit)) is not None:
            found.append(hit)
    for servo_id, temperature in sorted(readings.servo_temperatures.items()):
        if (hit := _checked(thresholds, "servo_temp", temperature, servo_id, " °C")) is not None:
            found.append(hit)
    if not found:
        return Health.OK, ()
    # Stable sort: within one level the reasons keep the order above.
    found.sort(key=lambda hit: hit[0], reverse=True)
    return found[0][0], tuple(reason for _, reason in found)


def _records_only(readings: Readings, offline_after_s: float) -> tuple[Health, tuple[str, ...]]:
    # Listed by the records, not heard since the console started (robot off, or the
    # broker unreachable): what the records last saw is all there is to say.
    if readings.silent_s is None:
        return Health.UNKNOWN, ("never seen: registered, no message on record",)
    silence = format_duration(max(readings.silent_s, 0.0))
    if readings.silent_s >= offline_after_s or readings.status == "offline":
        return Health.OFFLINE, (f"no message for {silence} (per the records)",)
    return Health.STALE, (f"no live data yet; the records saw it {silence} ago",)
