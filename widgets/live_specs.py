"""Which charts a live page shows and which signals go into each."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from services.live.model import SignalKey

WINDOW_CHOICES_S = (60, 300, 900)
DEFAULT_WINDOW_S = 60


@dataclass(frozen=True, slots=True)
class SignalPattern:
    """Which signals go into a plot: exact measurement and field, series as a glob
    ("" for signals without a series, "*" for every servo)."""

    measurement: str
    field: str
    series: str = ""
    name: str | None = None  # legend name; None: the series id (servo_3)

    def matches(self, key: SignalKey) -> bool:
        return (key.measurement == self.measurement and key.field == self.field
                and fnmatchcase(key.series, self.series))


@dataclass(frozen=True, slots=True)
class PlotSpec:
    title: str
    unit: str
    signals: tuple[SignalPattern, ...]
    emphasize_hottest: bool = False  # the hottest curve per robot stands out (servos)


PLOT_SPECS: tuple[PlotSpec, ...] = (
    PlotSpec("CPU / memory / disk", "%", (
        SignalPattern("performance", "cpu_percent", name="CPU"),
        SignalPattern("performance", "memory_percent", name="Memory"),
        SignalPattern("performance", "disk_percent", name="Disk"))),
    PlotSpec("CPU temperature", "°C", (
        SignalPattern("performance", "cpu_temperature", name="CPU"),)),
    PlotSpec("Battery", "%", (SignalPattern("battery", "percentage", name="Charge"),)),
    PlotSpec("Battery voltage", "V", (SignalPattern("battery", "voltage", name="Voltage"),)),
    PlotSpec("Servo temperature", "°C", (SignalPattern("servos", "temperature", "*"),),
             emphasize_hottest=True),
    PlotSpec("Servo position", "deg", (SignalPattern("servos", "position", "*"),)),
    PlotSpec("IMU accel", "m/s²", tuple(
        SignalPattern("imu", f"accel_{axis}", name=axis) for axis in "xyz")),
    PlotSpec("IMU gyro", "deg/s", tuple(
        SignalPattern("imu", f"gyro_{axis}", name=axis) for axis in "xyz")),
)


def natural_key(text: str) -> tuple:
    """servo_2 before servo_10."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def window_label(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"
