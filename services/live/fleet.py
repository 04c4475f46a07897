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
import threading
import time
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from services.live.fleet_robot import (
    DEFAULT_INTERVAL_S,
    LATEST_FIELDS,
    MIN_INTERVAL_S,
    RobotState,
    SignalState,
    robot_snapshot,
)
from services.live.health import DEFAULT_THRESHOLDS, ThresholdLike
from services.live.model import (
    Health,
    JobProgress,
    KnownRobot,
     RingBuffer,
    RobotSnapshot,
    SignalKey,
)
from services.wire.model import Kind, Message

logger = logging.getLogger(__name__)

MAX_ROBOTS = 500  # robot ids come off the network: bound what a misbehaving client costs
MAX_SIGNALS_PER_ROBOT = 1024  # 64 servos x 5 fields + IMU, sensors... fit comfortably


class FleetState:
    def __init__(self, *, window_s: float = 900.0, max_points_per_signal: int = 9000,
                 thresholds: Mapping[str, ThresholdLike] | None = None,
                 clock: Callable[[], float] = time.time, offline_after_s: float = 30.0) -> None:
        self.window_s = window_s
        self.max_points_per_signal = max_points_per_signal
        self.offline_after_s = offline_after_s
        self._thresholds = dict(thresholds if thresholds is not None else DEFAULT_THRESHOLDS)
        self._robot_thresholds: dict[str, dict[str, ThresholdLike]] = {}
        self._clock = clock
        self._lock = threading.Lock()
        self._robots: dict[str, RobotState] = {}
        self._signals: dict[SignalKey, SignalState] = {}
        self._dirty: list[SignalState] = []
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
            robot.heard_live = True
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

    def _add_robot(self, robot_id: str) -> RobotState | None:
        if len(self._robots) >= MAX_ROBOTS:
            self._refused_robots += 1
            if self._refused_robots == 1 or self._refused_robots % 1000 == 0:
                logger.warning("ignoring robot %r: already %d robots (refused %d message(s))",
                               robot_id, MAX_ROBOTS, self._refused_robots)
            return None
        robot = self._robots[robot_id] = RobotState(robot_id)
        logger.info("new robot %s", robot_id)
        return robot

    def _apply_samples(self, robot: RobotState, message: Message, received: float) -> None:
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
            latest = LATEST_FIELDS.get(measurement)
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

    def _add_signal(self, robot: RobotState, group: dict[str, SignalState], measurement: str,
                    name: str, series: str) -> SignalState | None:
        if robot.signal_count >= MAX_SIGNALS_PER_ROBOT:
            return None
        key = SignalKey(robot.robot_id, str(measurement), name, series)
        signal = SignalState(key, RingBuffer(self.window_s, self.max_points_per_signal))
        group[name] = self._signals[key] = signal
        robot.signal_count += 1
        self._signals_added += 1
        return signal

    @staticmethod
    def _apply_status(robot: RobotState, message: Message, seen: float) -> None:
        status = message.status
        robot.status = status.status
        robot.emergency_stopped = status.emergency_stopped
        robot.emergency_reason = status.emergency_reason
        if status.status == "offline":  # last will or a clean goodbye
            robot.offline_marked = True
            robot.offline_at = seen
            robot.offline_clean = status.clean

    @staticmethod
    def _apply_job(robot: RobotState, message: Message) -> None:
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
                robot.offline_clean = False
                robot.offline_at = at

    def set_unacknowledged_alerts(self, robot_id: str, count: int) -> None:
        with self._lock:
            robot = self._robots.get(robot_id)
            if robot is not None:
                robot.unacknowledged_alerts = count

    def set_thresholds(self, thresholds: Mapping[str, ThresholdLike],
                       per_robot: Mapping[str, Mapping[str, ThresholdLike]] | None = None
                       ) -> None:
        """Replace the limits (e.g. with the records' alert_thresholds): `thresholds` for
        every robot, `per_robot` a robot's effective ones (its overrides included)."""
        with self._lock:
            self._thresholds = dict(thresholds)
            self._robot_thresholds = {robot: dict(limits)
                                      for robot, limits in (per_robot or {}).items()}

    def thresholds_for(self, robot_id: str) -> dict[str, ThresholdLike]:
        """The limits `robot_id` is judged by (a copy)."""
        with self._lock:
            return dict(self._robot_thresholds.get(robot_id, self._thresholds))

    def apply_records(self, robots: Iterable[KnownRobot]) -> None:
        """What the records know: robots nobody heard from yet are listed (OFFLINE or
        UNKNOWN), and every listed robot gets its open alerts count and last seen."""
        with self._lock:
            for known in robots:
                robot = self._robots.get(known.robot_id) or self._add_robot(known.robot_id)
                if robot is None:
                    continue
                robot.records_seen = (None if known.last_seen is None
                                      else known.last_seen.timestamp())
                robot.records_status = known.status
                robot.open_alerts = known.open_alerts

    def robot_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._robots)

    def snapshots(self, now: float | None = None) -> list[RobotSnapshot]:
        now = self._clock() if now is None else now
        with self._lock:
            return [self._snapshot(self._robots[rid], now) for rid in sorted(self._robots)]

    def _snapshot(self, robot: RobotState, now: float) -> RobotSnapshot:
        thresholds = self._robot_thresholds.get(robot.robot_id, self._thresholds)
        return robot_snapshot(robot, now, thresholds, self.offline_after_s)

    def snapshot(self, robot_id: str, now: float | None = None) -> RobotSnapshot | None:
        now = self._clock() if now is None else now
        with self._lock:
            robot = self._robots.get(robot_id)
            return None if robot is None else self._snapshot(robot, now)

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
