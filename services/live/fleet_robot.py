"""Per-robot and per-signal state of FleetState, and a robot's snapshot.

Plain classes with __slots__: FleetState's lock guards them, and apply() touches them
for every sample on the network thread, so attribute access must stay cheap.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime

from services.live.health import Readings, ThresholdLike, evaluate, value_levels
from services.live.model import JobProgress, RingBuffer, RobotSnapshot, SignalKey

STALE_FACTOR = 3.0  # a signal is stale after this many expected intervals without a sample
DEFAULT_INTERVAL_S = 5.0  # expected interval before a signal has shown its rate
MIN_INTERVAL_S = 0.05  # floor: jitter on a fast signal must not make it stale at once
FRESH_FOR_SURE_S = STALE_FACTOR * MIN_INTERVAL_S  # no signal is stale sooner than this
INTERVAL_HISTORY = 16  # the expected interval is the median of this many recent intervals
# measurement -> field -> the RobotState attribute that holds its latest value for the fleet
# overview (servo temperatures, one per servo, are kept apart)
LATEST_FIELDS = {
    "performance": {"cpu_percent": "cpu_percent", "memory_percent": "memory_percent",
                    "cpu_temperature": "cpu_temperature"},
    "battery": {"percentage": "battery_percent", "voltage": "battery_voltage"},
}


class SignalState:
    """One signal's buffer plus the bookkeeping apply() updates on every sample."""

    __slots__ = ("key", "label", "buffer", "count", "last_t", "anchor_t", "last_arrival",
                 "intervals", "expected_s", "dirty", "pending_first", "pending_last",
                 "taken")

    def __init__(self, key: SignalKey, buffer: RingBuffer) -> None:
        self.key = key
        self.label = key.label  # computed once: snapshots list stale signals by label
        self.buffer = buffer
        self.count = 0
        self.last_t = float("-inf")
        self.anchor_t = 0.0  # where the interval being measured started
        self.last_arrival = 0.0
        self.intervals: deque[float] = deque(maxlen=INTERVAL_HISTORY)
        self.expected_s: float | None = DEFAULT_INTERVAL_S
        self.dirty = False
        self.pending_first = 0.0  # sample times appended since the last take_dirty()
        self.pending_last = 0.0
        self.taken = (0, 0.0, 0.0)  # (take_dirty() call, pending_first, pending_last) then

    def is_stale_at(self, age_s: float) -> bool:
        # Younger than any signal can be stale: spare the median (the fleet overview
        # asks for every signal of every robot five times a second, under the lock).
        return age_s > FRESH_FOR_SURE_S and age_s > STALE_FACTOR * self.expected_interval_s()

    def expected_interval_s(self) -> float:
        if self.expected_s is None:  # recomputed lazily: apply() only invalidates it
            self.expected_s = max(MIN_INTERVAL_S, statistics.median(self.intervals))
        return self.expected_s


class RobotState:
    __slots__ = ("robot_id", "status", "emergency_stopped", "emergency_reason", "legacy",
                 "last_seen", "offline_marked", "offline_clean", "offline_at", "battery_percent",
                 "battery_voltage", "cpu_percent", "memory_percent", "cpu_temperature",
                 "servo_temperatures", "job", "unacknowledged_alerts", "groups", "signal_count",
                 "heard_live", "records_seen", "records_status", "open_alerts")

    def __init__(self, robot_id: str) -> None:
        self.robot_id = robot_id
        self.status = "unknown"  # until the robot says otherwise
        self.emergency_stopped = False
        self.emergency_reason: str | None = None
        self.legacy = False
        self.last_seen: float | None = None
        self.offline_marked = False
        self.offline_clean = False  # the agent said goodbye (not its last will)
        self.offline_at = 0.0
        self.battery_percent: float | None = None
        self.battery_voltage: float | None = None
        self.cpu_percent: float | None = None
        self.memory_percent: float | None = None
        self.cpu_temperature: float | None = None
        self.servo_temperatures: dict[str, float] = {}
        self.job: JobProgress | None = None
        self.unacknowledged_alerts = 0
        # (measurement, series) -> field -> signal: two cheap lookups per field in apply()
        self.groups: dict[tuple[str, str], dict[str, SignalState]] = {}
        self.signal_count = 0
        self.heard_live = False  # a message arrived (robots may come from the records only)
        self.records_seen: float | None = None  # robots.last_seen, epoch s
        self.records_status: str | None = None
        self.open_alerts: int | None = None


def robot_snapshot(robot: RobotState, now: float, thresholds: Mapping[str, ThresholdLike],
                   offline_after_s: float) -> RobotSnapshot:
    """What the fleet overview shows of `robot` at `now` (the caller holds the lock)."""
    stale = []
    for group in robot.groups.values():
        for signal in group.values():
            # A signal seen once has shown no rate it could miss (a one-off event).
            if signal.count >= 2:
                age = now - signal.last_arrival
                if signal.is_stale_at(age):
                    stale.append((signal.label, age))
    stale.sort(key=lambda item: -item[1])
    # The records may have heard of it later than this console (it started after,
    # or its broker is down while the ingest's is not).
    last_seen = max((t for t in (robot.last_seen, robot.records_seen) if t is not None),
                    default=None)
    status = robot.status if robot.heard_live else robot.records_status or "unknown"
    readings = Readings(
        status=status, emergency_stopped=robot.emergency_stopped,
        emergency_reason=robot.emergency_reason, battery_percent=robot.battery_percent,
        cpu_percent=robot.cpu_percent, memory_percent=robot.memory_percent,
        cpu_temperature=robot.cpu_temperature,
        servo_temperatures=dict(robot.servo_temperatures), stale_signals=stale,
        silent_s=None if last_seen is None else now - last_seen,
        offline_marked=robot.offline_marked, offline_clean=robot.offline_clean,
        heard_live=robot.heard_live)
    health, reasons = evaluate(readings, thresholds, offline_after_s)
    hottest = (max(robot.servo_temperatures.items(), key=lambda item: item[1])
               if robot.servo_temperatures else None)
    return RobotSnapshot(
        robot_id=robot.robot_id, health=health, reasons=reasons, status=status,
        legacy=robot.legacy,
        last_seen=None if last_seen is None else datetime.fromtimestamp(last_seen, UTC),
        battery_percent=robot.battery_percent, battery_voltage=robot.battery_voltage,
        cpu_percent=robot.cpu_percent, memory_percent=robot.memory_percent,
        cpu_temperature=robot.cpu_temperature, hottest_servo=hottest, job=robot.job,
        unacknowledged_alerts=robot.unacknowledged_alerts,
        stale_signals=tuple(label for label, _ in stale),
        levels=value_levels(readings, thresholds), open_alerts=robot.open_alerts,
        heard_live=robot.heard_live)
