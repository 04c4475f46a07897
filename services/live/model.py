"""Values the live layer hands to the GUI: signal keys, ring buffers, robot snapshots.

Pure Python + numpy.  The paho thread appends to ring buffers under the owner's lock;
the GUI thread copies what it draws with `snapshot()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import NamedTuple

import numpy as np

INITIAL_CAPACITY = 256


class Health(IntEnum):
    """Worst-of ordering, after ROS diagnostics (OK < WARN < ERROR < STALE), plus OFFLINE,
    and UNKNOWN for a robot the records list but nobody has ever heard from."""

    OK = 0
    WARN = 1
    ERROR = 2
    STALE = 3
    OFFLINE = 4
    UNKNOWN = 5


class SignalKey(NamedTuple):
    """Which signal: a robot's measurement field, per servo or sensor where there are
    several.  A tuple, not a dataclass: keys are hashed tens of thousands of times a
    second (dirty sets, buffers, routes), and a tuple hashes in C."""

    robot_id: str
    measurement: str
    field: str
    series: str = ""  # servo_id or sensor_type

    @property
    def label(self) -> str:
        return "/".join(p for p in (self.measurement, self.series, self.field) if p)


class RingBuffer:
    """Time-stamped samples of one signal, oldest first, bounded by age and by count.

    Grows by doubling from a small start, so quiet signals stay small and a 10 Hz signal
    holds exactly its window.  Times are UTC epoch seconds (float64), values float64.
    Not thread-safe by itself: the owner serialises access.
    """

    def __init__(self, max_age_s: float, max_points: int) -> None:
        self.max_age_s = max_age_s
        self.max_points = max_points
        self._cap = min(INITIAL_CAPACITY, max_points)
        self._t = np.empty(self._cap)
        self._v = np.empty(self._cap)
        self._start = 0
        self._len = 0
        # The oldest time as a Python float: append() runs for every sample on the
        # network thread, and reading a numpy element each time costs more than the rest.
        self._oldest = 0.0

    def __len__(self) -> int:
        return self._len

    @property
    def capacity(self) -> int:
        return self._cap

    def append(self, t: float, v: float) -> None:
        n = self._len
        if n == self._cap:
            if self._cap < self.max_points:
                self._grow()
            else:
                self._drop_oldest(1)
                n -= 1
        index = self._start + n
        if index >= self._cap:
            index -= self._cap
        self._t[index] = t
        self._v[index] = v
        self._len = n + 1
        if not n:
            self._oldest = t
        if self._oldest < t - self.max_age_s:
            self._trim(t - self.max_age_s)

    def _grow(self) -> None:
        times, values = self.snapshot()
        self._cap = min(self._cap * 2, self.max_points)
        self._t = np.empty(self._cap)
        self._v = np.empty(self._cap)
        self._t[: len(times)] = times
        self._v[: len(values)] = values
        self._start = 0

    def _drop_oldest(self, count: int) -> None:
        self._start = (self._start + count) % self._cap
        self._len -= count
        if self._len:
            self._oldest = float(self._t[self._start])

    def _trim(self, oldest_allowed: float) -> None:
        # Called when the oldest sample is too old; usually just that one goes.
        drop = 0
        start, cap, times = self._start, self._cap, self._t
        while drop < self._len and times[(start + drop) % cap] < oldest_allowed:
            drop += 1
        self._drop_oldest(drop)

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of (times, values), oldest first."""
        end = self._start + self._len
        if end <= self._cap:
            return self._t[self._start:end].copy(), self._v[self._start:end].copy()
        wrap = end - self._cap
        return (np.concatenate((self._t[self._start:], self._t[:wrap])),
                np.concatenate((self._v[self._start:], self._v[:wrap])))

    def snapshot_since(self, oldest: float) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the samples at or after `oldest` only, so a short plot window does
        not copy a long buffer.  Assumes times ascend, as the fleet keeps them."""
        end = self._start + self._len
        if end <= self._cap:
            segments = [(self._start, end)]
        else:
            segments = [(self._start, self._cap), (0, end - self._cap)]
        times, values = [], []
        for lo, hi in segments:
            first = lo + int(self._t[lo:hi].searchsorted(oldest, side="left"))
            times.append(self._t[first:hi])
            values.append(self._v[first:hi])
        return np.concatenate(times), np.concatenate(values)

    def latest(self) -> tuple[float, float] | None:
        if not self._len:
            return None
        index = (self._start + self._len - 1) % self._cap
        return float(self._t[index]), float(self._v[index])


@dataclass(frozen=True, slots=True)
class JobProgress:
    task_name: str | None
    status: str  # active, completed, failed, cancelled
    items_done: int | None
    items_total: int | None
    percent: float | None


@dataclass(frozen=True, slots=True)
class RobotSnapshot:
    """What the fleet overview shows for one robot at one instant."""

    robot_id: str
    health: Health
    reasons: tuple[str, ...]  # why the health is what it is, worst first
    status: str  # online, offline, error, maintenance (as the robot last said)
    legacy: bool  # speaks the legacy format (no last will, no seq)
    last_seen: datetime | None
    battery_percent: float | None = None
    battery_voltage: float | None = None
    cpu_percent: float | None = None
    memory_percent: float | None = None
    cpu_temperature: float | None = None
    hottest_servo: tuple[str, float] | None = None  # (servo_id, deg C)
    job: JobProgress | None = None
    unacknowledged_alerts: int = 0
    stale_signals: tuple[str, ...] = ()
    # metric type (cpu, memory, temperature, battery, servo_temp) -> how far past its
    # thresholds the value shown is; metrics within limits are left out
    levels: Mapping[str, Health] = field(default_factory=dict)
    open_alerts: int | None = None  # unresolved alerts per the records; None: not read yet
    heard_live: bool = True  # False: known from the records only, no message yet


@dataclass(frozen=True, slots=True)
class KnownRobot:
    """A robot as the records know it (robots table plus its open alerts), handed to
    FleetState so that silent robots are listed too."""

    robot_id: str
    name: str | None
    status: str | None
    last_seen: datetime | None  # timezone-aware UTC
    open_alerts: int = 0
