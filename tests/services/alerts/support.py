"""Threshold tables and sample feeders shared by the alert engine tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from services.alerts import AlertChange, AlertEngine
from services.records.repositories import Threshold

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

# The migration's global defaults (0001 + disk from 0005).
DEFAULTS: dict[str, Threshold] = {
    "cpu": Threshold(70.0, 90.0, True, False),
    "memory": Threshold(75.0, 90.0, True, False),
    "disk": Threshold(80.0, 95.0, True, False),
    "temperature": Threshold(70.0, 80.0, True, False),
    "battery": Threshold(20.0, 10.0, True, True),
    "servo_temp": Threshold(60.0, 75.0, True, False),
}


class ThresholdTable:
    """A thresholds callable: global rows plus per-robot overrides; counts its lookups."""

    def __init__(self, overrides: Mapping[str, Mapping[str, Threshold]] | None = None):
        self.global_rows = dict(DEFAULTS)
        self.overrides = {robot: dict(rows) for robot, rows in (overrides or {}).items()}
        self.calls: list[str] = []

    def __call__(self, robot_id: str) -> dict[str, Threshold]:
        self.calls.append(robot_id)
        return {**self.global_rows, **self.overrides.get(robot_id, {})}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def feed(engine: AlertEngine, values: Iterable[float], *, start_s: float = 0.0,
         step_s: float = 1.0, robot_id: str = "r1", metric_type: str = "servo_temp",
         source: str = "servo_3") -> list[AlertChange]:
    """One sample every step_s seconds of sample time, from start_s on; all the changes."""
    changes: list[AlertChange] = []
    for i, value in enumerate(values):
        changes += engine.observe(robot_id, metric_type, source, value, at(start_s + i * step_s))
    return changes


def kinds(changes: Iterable[AlertChange]) -> list[tuple[str, str]]:
    return [(c.kind, c.severity) for c in changes]
