"""The console's live state of the fleet: per-signal ring buffers and per-robot latest values.

The paho network thread calls `apply` for every message; the GUI thread reads snapshots,
copies of buffers and the set of signals that changed.  One lock guards everything, and
`apply` does as little as possible under it (no SignalKey is built or hashed for a known
signal), because it runs for every sample on the thread that also feeds the socket.

Ages and silence are measured on the console's clock from *arrival* times: a robot whose
clock is wrong (a Pi without RTC before NTP) is still judged fairly.  Expected intervals are
learned from the *sample* timestamps, so a burst of replayed messages after an outage does
not teach the console that a 1 Hz signal is a 100 Hz one.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

import numpy as np

from services.live.health import DEFAULT_THRESHOLDS, Readings, ThresholdLike, evaluate
from services.live.model import Health, JobProgress, RingBuffer, RobotSnapshot, SignalKey
from services.wire.model import Kind, Message

logger = logging.getLogger(__name__)

STALE_FACTOR = 3.0  # a signal is stale after this many expected intervals without a sample
DEFAULT_INTERVAL_S = 5.0  # expected interval before a signal has shown its rate
MIN_INTERVAL_S = 0.05  # floor: jitter on a fast signal must not make it stale at once
FRESH_FOR_SURE_S = STALE_FACTOR * MIN_INTERVAL_S  # no signal is stale sooner than this
INTERVAL_HISTORY = 16  # the expected interval is the median of this many recent intervals
MAX_ROBOTS = 500  # robot ids come off the network: bound what a misbehaving client costs
MAX_SIGNALS_PER_ROBOT = 1024  # 64 servos x 5 fields + IMU, sensors... fit comfortably
# measurement -> field -> the _Robot attribute that holds its latest value for the fleet
# overview (servo temperatures, one per servo, are kept apart)
_LATEST_FIELDS = {
    "performance": {"cpu_percent": "cpu_percent", "memory_percent": "memory_percent",
                    "cpu_temperature": "cpu_temperature"},
    "battery": {"percentage": "battery_percent", "voltage": "battery_voltage"},
}


class _Signal:
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


class _Robot:
    __slots__ = ("robot_id", "status", "emergency_stopped", "emergency_reason", "legacy",
                 "last_seen", "offline_marked", "offline_at", "battery_percent",
                 "battery_voltage", "cpu_percent", "memory_percent", "cpu_temperature",
                 "servo_temperatures", "job", "unacknowledged_alerts", "groups", "signal_count")

    def __init__(self, robot_id: str) -> None:
        self.robot_id = robot_id
        self.status = "unknown"  # until the robot says otherwise
        self.emergency_stopped = False
        self.emergency_reason: str | None = None
        self.legacy = False
        self.last_seen: float | None = None
        self.offline_marked = False
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
        self.groups: dict[tuple[str, str], dict[str, _Signal]] = {}
        self.signal_count = 0


class FleetState:
    def __init__(self, *, window_s: float = 900.0, max_points_per_signal: int = 9000,
                 thresholds: Mapping[str, ThresholdLike] | None = None,
                 clock: Callable[[], float] = time.time, offline_after_s: float = 30.0) -> None:
        self.window_s = window_s
        self.max_points_per_signal = max_points_per_signal
        self.offline_after_s = offline_after_s
        self._thresholds = dict(thresholds if thresholds is not None else DEFAULT_THRESHOLDS)
        self._clock = clock
        self._lock = threading.Lock()
        self._robots: dict[str, _Robot] = {}
        self._signals: dict[SignalKey, _Signal] = {}
        self._dirty: list[_Signal] = []
        self._takes = 0  # take_dirty() calls: stamps what each one took
        self._newest_t: float | None = None
        self.dropped_out_of_order = 0  # duplicates and late samples not put in a buffer
        self._signals_added = 0
        self._refused_robots = 0

    # -- network thread -------------------------------------------------------------------

    def apply(self, message: Message, *, retained: bool = False) -> None:
        """Take one parsed message.  `retained`: the broker's stored copy, delivered on
        subscribe; it registers the robot but only vouches for the time it was sent."""
        received = message.received_at.timestamp()
        seen = min(received, message.time.timestamp()) if retained else received
        with self._lock:
            robot = self._robots.get(message.robot_id) or self._add_robot(message.robot_id)
            if robot is None:
                return
            if robot.last_seen is None or seen > robot.last_seen:
                robot.last_seen = seen
            if robot.offline_marked and seen > robot.offline_at:
                robot.offline_marked = False  # it talks again: it is back
                if robot.status == "offline":
                    robot.status = "online"  # even before it repeats its status
            if message.kind is not Kind.COMMAND_RESPONSE:
                # Our agent answers commands in the legacy shape; that says nothing.
                robot.legacy = message.legacy
            if message.samples:
                self._apply_samples(robot, message, received)
            if message.status is not None:
                self._apply_status(robot, message, seen)
            if message.job is not None:
                self._apply_job(robot, message)

    def _add_robot(self, robot_id: str) -> _Robot | None:
        if len(self._robots) >= MAX_ROBOTS:
            self._refused_robots += 1
            if self._refused_robots == 1 or self._refused_robots % 1000 == 0:
                logger.warning("ignoring robot %r: already %d robots (refused %d message(s))",
                               robot_id, MAX_ROBOTS, self._refused_robots)
            return None
        robot = self._robots[robot_id] = _Robot(robot_id)
        logger.info("new robot %s", robot_id)
        return robot

    def _apply_samples(self, robot: _Robot, message: Message, received: float) -> None:
        newest = self._newest_t
        for sample in message.samples:
            t = sample.time.timestamp()
            series = sample.series
            measurement = sample.measurement
            group = robot.groups.get((measurement, series))
            if group is None:
                group = robot.groups[(measurement, series)] = {}
            # Which fields the fleet overview keeps as latest values, looked up once per
            # sample rather than per field: this loop runs for every value, on paho's thread.
            latest = _LATEST_FIELDS.get(measurement)
            servo_temperatures = (robot.servo_temperatures if measurement == "servos"
                                  else None)
            appended = False
            for name, value in sample.fields.items():
                signal = group.get(name)
                if signal is None:
                    signal = self._add_signal(robot, group, measurement, name, series)
                    if signal is None:
                        continue
                value = float(value)  # booleans become 0.0 / 1.0
                last_t = signal.last_t
                if t <= last_t:
                    if t > last_t - self.window_s:
                        # A redelivered duplicate or a late straggler: a buffer stays in
                        # time order so plots never draw backwards.
                        self.dropped_out_of_order += 1
                        continue
                    signal.buffer = RingBuffer(self.window_s, self.max_points_per_signal)
                    signal.intervals.clear()  # the robot's clock jumped back: start over
                    signal.expected_s = DEFAULT_INTERVAL_S
                    signal.anchor_t = t
                elif not signal.count:
                    signal.anchor_t = t
                elif t - signal.anchor_t >= MIN_INTERVAL_S:
                    # Closer samples are one update from two sources (a legacy robot sends
                    # cpu_temperature in status and in sensors) or network bunching, not a
                    # rate: they extend the interval being measured instead of ending it.
                    signal.intervals.append(t - signal.anchor_t)
                    signal.anchor_t = t
                    signal.expected_s = None
                signal.buffer.append(t, value)
                signal.last_t = t
                signal.last_arrival = received
                signal.count += 1
                if not signal.dirty:
                    signal.dirty = True
                    signal.pending_first = t
                    self._dirty.append(signal)
                signal.pending_last = t
                appended = True
                if latest is not None and name in latest:
                    setattr(robot, latest[name], value)
                elif servo_temperatures is not None and name == "temperature":
                    servo_temperatures[series] = value
            if appended and (newest is None or t > newest):
                newest = t
        self._newest_t = newest

    def _add_signal(self, robot: _Robot, group: dict[str, _Signal], measurement: str,
                    name: str, series: str) -> _Signal | None:
        if robot.signal_count >= MAX_SIGNALS_PER_ROBOT:
            return None
        key = SignalKey(robot.robot_id, str(measurement), name, series)
        signal = _Signal(key, RingBuffer(self.window_s, self.max_points_per_signal))
        group[name] = self._signals[key] = signal
        robot.signal_count += 1
        self._signals_added += 1
        return signal

    @staticmethod
    def _apply_status(robot: _Robot, message: Message, seen: float) -> None:
        status = message.status
        robot.status = status.status
        robot.emergency_stopped = status.emergency_stopped
        robot.emergency_reason = status.emergency_reason
        if status.status == "offline":  # last will or a clean goodbye
            robot.offline_marked = True
            robot.offline_at = seen

    @staticmethod
    def _apply_job(robot: _Robot, message: Message) -> None:
        job = message.job
        previous = robot.job
        task_name = job.task_name
        if task_name is None and previous is not None and not job.started:
            task_name = previous.task_name  # legacy progress messages carry no name
        percent = job.percent_complete
        if percent is None and job.items_total and job.items_done is not None:
            percent = 100.0 * job.items_done / job.items_total
        robot.job = JobProgress(task_name=task_name, status=job.status,
                                items_done=job.items_done, items_total=job.items_total,
                                percent=percent)

    # -- GUI thread ---------------------------------------------------------------------

    def mark_offline(self, robot_id: str, at: float | None = None) -> None:
        """Declare a robot offline as of `at` (epoch s); a later message revives it."""
        at = self._clock() if at is None else at
        with self._lock:
            robot = self._robots.get(robot_id) or self._add_robot(robot_id)
            if robot is not None:
                robot.offline_marked = True
                robot.offline_at = at

    def set_unacknowledged_alerts(self, robot_id: str, count: int) -> None:
        with self._lock:
            robot = self._robots.get(robot_id)
            if robot is not None:
                robot.unacknowledged_alerts = count

    def set_thresholds(self, thresholds: Mapping[str, ThresholdLike]) -> None:
        """Replace the limits (e.g. with the records' alert_thresholds)."""
        with self._lock:
            self._thresholds = dict(thresholds)

    def robot_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._robots)

    def snapshots(self, now: float | None = None) -> list[RobotSnapshot]:
        now = self._clock() if now is None else now
        with self._lock:
            return [self._snapshot(self._robots[rid], now) for rid in sorted(self._robots)]

    def snapshot(self, robot_id: str, now: float | None = None) -> RobotSnapshot | None:
        now = self._clock() if now is None else now
        with self._lock:
            robot = self._robots.get(robot_id)
            return None if robot is None else self._snapshot(robot, now)

    def _snapshot(self, robot: _Robot, now: float) -> RobotSnapshot:
        stale = []
        for group in robot.groups.values():
            for signal in group.values():
                # A signal seen once has shown no rate it could miss (a one-off event).
                if signal.count >= 2:
                    age = now - signal.last_arrival
                    if signal.is_stale_at(age):
                        stale.append((signal.label, age))
        stale.sort(key=lambda item: -item[1])
        readings = Readings(
            status=robot.status, emergency_stopped=robot.emergency_stopped,
            emergency_reason=robot.emergency_reason, battery_percent=robot.battery_percent,
            cpu_percent=robot.cpu_percent, memory_percent=robot.memory_percent,
            cpu_temperature=robot.cpu_temperature,
            servo_temperatures=dict(robot.servo_temperatures), stale_signals=stale,
            silent_s=None if robot.last_seen is None else now - robot.last_seen,
            offline_marked=robot.offline_marked)
        health, reasons = evaluate(readings, self._thresholds, self.offline_after_s)
        hottest = (max(robot.servo_temperatures.items(), key=lambda item: item[1])
                   if robot.servo_temperatures else None)
        return RobotSnapshot(
            robot_id=robot.robot_id, health=health, reasons=reasons, status=robot.status,
            legacy=robot.legacy,
            last_seen=(None if robot.last_seen is None
                       else datetime.fromtimestamp(robot.last_seen, UTC)),
            battery_percent=robot.battery_percent, battery_voltage=robot.battery_voltage,
            cpu_percent=robot.cpu_percent, memory_percent=robot.memory_percent,
            cpu_temperature=robot.cpu_temperature, hottest_servo=hottest, job=robot.job,
            unacknowledged_alerts=robot.unacknowledged_alerts,
            stale_signals=tuple(label for label, _ in stale))

    def signals(self, robot_id: str) -> list[SignalKey]:
        with self._lock:
            robot = self._robots.get(robot_id)
            if robot is None:
                return []
            return sorted(s.key for group in robot.groups.values() for s in group.values())

    @property
    def signal_generation(self) -> int:
        """Grows whenever a new signal appears: whoever caches `signals()` re-reads it
        when this changed (signals are never removed)."""
        return self._signals_added

    def stale_ages(self, keys: Iterable[SignalKey], now: float | None = None
                   ) -> dict[SignalKey, float | None]:
        """Per key: seconds since its last sample when it is stale (see is_stale), else
        None; unknown keys are None.  One pass under the lock, for a redraw."""
        now = self._clock() if now is None else now
        result: dict[SignalKey, float | None] = {}
        with self._lock:
            for key in keys:
                signal = self._signals.get(key)
                age = None
                if signal is not None:
                    age = now - signal.last_arrival
                    if not signal.is_stale_at(age):
                        age = None
                result[key] = age
        return result

    def read(self, keys: Iterable[SignalKey], since: float | None = None
             ) -> dict[SignalKey, tuple[np.ndarray, np.ndarray]]:
        """Copies of (times, values) per known key, oldest first; unknown keys are left
        out.  `since` (epoch s) copies only the samples a plot window shows."""
        result = {}
        with self._lock:
            for key in keys:
                signal = self._signals.get(key)
                if signal is not None:
                    buffer = signal.buffer
                    result[key] = (buffer.snapshot() if since is None
                                   else buffer.snapshot_since(since))
        return result

    def take_dirty(self) -> set[SignalKey]:
        """Keys that got samples since the last call (one consumer: the redraw timer)."""
        with self._lock:
            taken, self._dirty = self._dirty, []
            self._takes += 1
            take = self._takes
            for signal in taken:
                signal.dirty = False
                # As they are now: apply() goes on meanwhile (see latency_samples).
                signal.taken = (take, signal.pending_first, signal.pending_last)
        return {signal.key for signal in taken}

    def latency_samples(self, keys: Iterable[SignalKey]
                        ) -> dict[SignalKey, tuple[float, float]]:
        """For those of `keys` that the last take_dirty() returned: the (oldest, newest)
        new sample time.  Whoever draws them compares with the clock after drawing: the
        oldest gives the worst sample-to-screen latency of that frame, the newest the
        best."""
        result = {}
        with self._lock:
            take = self._takes
            for key in keys:
                signal = self._signals.get(key)
                if signal is not None and signal.taken[0] == take:
                    result[key] = signal.taken[1:]
        return result

    def signal_age_s(self, key: SignalKey, now: float | None = None) -> float | None:
        """Seconds since the signal's last sample arrived; None for an unknown key."""
        now = self._clock() if now is None else now
        with self._lock:
            signal = self._signals.get(key)
            return None if signal is None else now - signal.last_arrival

    def expected_interval_s(self, key: SignalKey) -> float:
        with self._lock:
            signal = self._signals.get(key)
            return DEFAULT_INTERVAL_S if signal is None else signal.expected_interval_s()

    def is_stale(self, key: SignalKey, now: float | None = None) -> bool:
        now = self._clock() if now is None else now
        with self._lock:
            signal = self._signals.get(key)
            if signal is None:
                return False
            return signal.is_stale_at(now - signal.last_arrival)

    def newest_sample_time(self) -> float | None:
        """The timestamp (epoch s) of the freshest sample of any robot."""
        with self._lock:
            return self._newest_t

    def health_counts(self, now: float | None = None) -> dict[Health, int]:
        """How many robots are at each level (for a status bar summary)."""
        counts = dict.fromkeys(Health, 0)
        for snapshot in self.snapshots(now):
            counts[snapshot.health] += 1
        return counts
