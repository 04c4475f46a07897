"""Snapshots and signal data for widget tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from services.live.model import Health, JobProgress, RobotSnapshot, SignalKey

NOW = datetime(2026, 11, 22, 10, 15, 0, tzinfo=UTC)
NOW_S = NOW.timestamp()


def snapshot(robot_id: str, **changes) -> RobotSnapshot:
    base = RobotSnapshot(
        robot_id=robot_id, health=Health.OK, reasons=(), status="online", legacy=False,
        last_seen=NOW - timedelta(seconds=2), battery_percent=80.0, battery_voltage=11.8,
        cpu_percent=25.0, memory_percent=40.0, cpu_temperature=50.0,
        hottest_servo=("servo_3", 41.0), job=None, unacknowledged_alerts=0)
    return replace(base, **changes)


def varied_fleet() -> list[RobotSnapshot]:
    return [
        snapshot("tonypi_01", job=JobProgress("Sort parcels", "active", 3, 10, 30.0)),
        snapshot("tonypi_02", health=Health.WARN, reasons=("servo_7 63.5 °C > 60",),
                 hottest_servo=("servo_7", 63.5), unacknowledged_alerts=1),
        snapshot("tonypi_03", health=Health.ERROR, reasons=("battery 8 % < 10",),
                 battery_percent=8.0, unacknowledged_alerts=3),
        snapshot("tonypi_04", health=Health.STALE, reasons=("no performance for 14 s",),
                 battery_percent=None, last_seen=NOW - timedelta(seconds=14), legacy=True),
        snapshot("tonypi_05", health=Health.OFFLINE, reasons=("last will",), status="offline",
                 last_seen=NOW - timedelta(minutes=42)),
        snapshot("legacy_bot", battery_percent=100.0, cpu_percent=99.0, legacy=True),
    ]


def series(start: float, end: float, step: float, phase: float = 0.0):
    times = np.arange(start, end, step)
    return times, np.sin(times / 5.0 + phase) * 10 + 50


def key(robot: str, measurement: str, field: str, series_id: str = "") -> SignalKey:
    return SignalKey(robot, measurement, field, series_id)


def wheel_zoom_in(plot) -> None:
    """One real wheel notch over the middle of a LivePlot's data area."""
    centre = plot.plot_widget.mapFromScene(plot.view_box.sceneBoundingRect().center())
    event = QWheelEvent(QPointF(centre), QPointF(plot.plot_widget.mapToGlobal(centre)),
                        QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(plot.plot_widget.viewport(), event)
