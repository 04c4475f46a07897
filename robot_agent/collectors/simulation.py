"""A simulated TonyPi: servo heating, 3S LiPo discharge, IMU noise, sonar, and jobs.

The physics is simple but causal, so alerts fire for the reasons they would on a real
robot: a servo heats because it carries load (first-order thermal model toward
ambient + gain * load), the battery drains because the servos draw current, and
stopping the robot cools it down.  Everything random comes from one seeded
`random.Random`, and time only moves through `advance`, so a scenario can be replayed
exactly and run minutes of robot time in milliseconds.  `time_scale` makes a live robot
(driven by `update`) age faster than the wall clock, so a demo shows a servo overheating
in seconds rather than minutes; the timestamps it reports stay on the wall clock.
"""

from __future__ import annotations

import logging
import math
import random
from bisect import bisect_left
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from robot_agent.collectors import Reading
from services.wire.encode import iso_utc

logger = logging.getLogger(__name__)

SCENARIOS = ("normal", "overheating", "draining", "job")
SERVO_NAMES = (
    "Right Ankle Roll", "Right Ankle Pitch", "Right Knee", "Right Hip Pitch", "Right Hip Roll",
    "Right Elbow", "Right Shoulder Roll", "Right Shoulder Pitch",
    "Left Ankle Roll", "Left Ankle Pitch", "Left Knee", "Left Hip Pitch", "Left Hip Roll",
    "Left Elbow", "Left Shoulder Roll", "Left Shoulder Pitch",
    "Head Pan", "Head Tilt",
)
OVERHEATING_SERVO_ID = 11  # Left Knee: a binding joint on a walking leg

MAX_STEP_S = 0.5  # integration step: short against every time constant below
GRAVITY_M_S2 = 9.80665
AMBIENT_C = 25.0
THERMAL_TAU_S = 90.0
HEAT_GAIN_C_PER_PCT = 0.3  # steady state: ambient + gain * load
BINDING_HEAT_GAIN_C_PER_PCT = 0.7  # friction in a binding joint turns load into heat
GAIT_HZ = 0.8

# 3S LiPo open-circuit voltage per cell against state of charge (%).
LIPO_CELLS = 3
LIPO_CURVE = ((0, 3.00), (5, 3.45), (10, 3.60), (20, 3.71), (30, 3.75), (40, 3.79),
              (50, 3.85), (60, 3.92), (70, 3.99), (80, 4.06), (90, 4.13), (100, 4.20))
PACK_CAPACITY_MAH = 2000.0
AGED_PACK_CAPACITY_MAH = 1000.0  # the "draining" robot's pack has lost half its capacity
PAYLOAD_LOAD_FACTOR = 1.8  # ...and it walks all day carrying a heavy tray
PACK_RESISTANCE_OHM = 0.15
IDLE_CURRENT_A = 0.5  # Raspberry Pi 5 and controller board, seen from the 11.1 V side
SERVO_CURRENT_A_PER_PCT = 0.0025  # one servo at 100 % load draws ~0.25 A

SONAR_RANGE_CM = (4.0, 400.0)
SONAR_STEP_CM = 3.0  # random-walk step per second
JOB_TASKS = ("Sort parcels", "Inventory scan", "Deliver samples")
JOB_PAUSE_S = 6.0


def pack_voltage_at(percent: float) -> float:
    """Open-circuit 3S pack voltage for a state of charge in percent."""
    percent = min(100.0, max(0.0, percent))
    socs = [p for p, _ in LIPO_CURVE]
    i = max(1, bisect_left(socs, percent))
    (p0, v0), (p1, v1) = LIPO_CURVE[i - 1], LIPO_CURVE[i]
    return LIPO_CELLS * (v0 + (v1 - v0) * (percent - p0) / (p1 - p0))


def voltage_to_percentage(pack_voltage: float) -> float:
    """State of charge (%) from a resting 3S pack voltage, following the LiPo curve."""
    cell = pack_voltage / LIPO_CELLS
    if cell <= LIPO_CURVE[0][1]:
        return 0.0
    if cell >= LIPO_CURVE[-1][1]:
        return 100.0
    for (p0, v0), (p1, v1) in zip(LIPO_CURVE, LIPO_CURVE[1:], strict=False):
        if cell <= v1:
            return p0 + (p1 - p0) * (cell - v0) / (v1 - v0)
    return 100.0


SOC_IDLE_C = 45.0
SOC_C_PER_CPU_PCT = 0.25


class _Servo:
    def __init__(self, servo_id: int, name: str, rng: random.Random) -> None:
        self.id, self.name = servo_id, name
        leg = any(part in name for part in ("Ankle", "Knee", "Hip"))
        head = name.startswith("Head")
        self.base_load_pct = 5.0 if head else rng.uniform(25, 40) if leg else rng.uniform(8, 15)
        self.amplitude_deg = 0.0 if head else rng.uniform(10, 25) if leg else rng.uniform(5, 15)
        self.rest_deg = rng.uniform(-10, 10)
        self.phase = rng.uniform(0, 2 * math.pi)
        self.heat_gain = HEAT_GAIN_C_PER_PCT
        self.temperature_c = AMBIENT_C + rng.uniform(0, 3)
        self.load_pct = 0.0
        self.position_deg = self.rest_deg


class _Job:
    def __init__(self, number: int, task: str, items_total: int, started: datetime) -> None:
        self.job_id = f"job-{number:04d}"
        self.task_name = task
        self.items_total = items_total
        self.items_done = 0
        self.start_time = started
        self.last_item: str | None = None
        self.item_left_s = 0.0


class SimulatedRobot:
    hardware_mode = "simulation"

    def __init__(self, scenario: str = "normal", seed: int = 0,
                 start: datetime | None = None, time_scale: float = 1.0) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose one of {SCENARIOS}")
        self.scenario = scenario
        self.time_scale = time_scale  # simulated seconds per wall-clock second in update()
        self._rng = random.Random(seed)
        self._start = start or datetime.now(UTC)
        self.elapsed_s = 0.0
        self._last_now_s: float | None = None
        self.servos_list = [_Servo(i + 1, name, self._rng) for i, name in enumerate(SERVO_NAMES)]
        self.motion_enabled = True
        self.torque_enabled = True
        self.walking = scenario in ("overheating", "draining")
        self._walk_toggle_s = 0.0
        self._capacity_mah = PACK_CAPACITY_MAH
        self.soc_pct = self._rng.uniform(88, 98)
        if scenario == "draining":
            self._capacity_mah = AGED_PACK_CAPACITY_MAH
            self.soc_pct = 32.0
            for servo in self.servos_list:
                servo.base_load_pct *= PAYLOAD_LOAD_FACTOR
        if scenario == "overheating":
            binding = self.servos_list[OVERHEATING_SERVO_ID - 1]
            binding.heat_gain = BINDING_HEAT_GAIN_C_PER_PCT
            binding.base_load_pct = 85.0
        self.current_a = IDLE_CURRENT_A
        self.sonar_cm = self._rng.uniform(50, 150)
        self.light_pct = self._rng.uniform(40, 80)
        self._events: list[tuple[str, Reading]] = []
        self._job: _Job | None = None
        self._jobs_started = 0
        self._next_job_in_s = 1.0 if scenario == "job" else math.inf
        self._update_loads()

    # -- time ---------------------------------------------------------------------------

    @property
    def time_scale(self) -> float:
        return self._time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"time_scale must be a positive number, got {value!r}")
        self._time_scale = float(value)

    @property
    def now(self) -> datetime:
        # Wall-clock time: a sped-up robot must not date its jobs in the future.
        return self._start + timedelta(seconds=self.elapsed_s / self._time_scale)

    def update(self, now_s: float) -> None:
        """Advance by the monotonic time since the previous call (the first sets the base),
        times `time_scale`."""
        if self._last_now_s is not None and now_s > self._last_now_s:
            self.advance((now_s - self._last_now_s) * self._time_scale)
        self._last_now_s = now_s if self._last_now_s is None else max(now_s, self._last_now_s)

    def advance(self, dt_s: float) -> None:
        while dt_s > 1e-9:
            step = min(MAX_STEP_S, dt_s)
            self._step(step)
            dt_s -= step

    def _step(self, dt: float) -> None:
        self.elapsed_s += dt
        if self.scenario == "normal":
            self._walk_toggle_s += dt
            if self._walk_toggle_s >= (20.0 if self.walking else 10.0):
                self.walking, self._walk_toggle_s = not self.walking, 0.0
        if self.scenario == "job":
            self._step_job(dt)
        self._update_loads()
        keep = math.exp(-dt / THERMAL_TAU_S)
        for servo in self.servos_list:
            target = AMBIENT_C + servo.heat_gain * servo.load_pct
            servo.temperature_c = target + (servo.temperature_c - target) * keep
        servo_load = sum(s.load_pct for s in self.servos_list)
        self.current_a = IDLE_CURRENT_A + SERVO_CURRENT_A_PER_PCT * servo_load
        used_mah = self.current_a * 1000.0 * dt / 3600.0
        self.soc_pct = max(0.0, self.soc_pct - 100.0 * used_mah / self._capacity_mah)
        low, high = SONAR_RANGE_CM
        self.sonar_cm += self._rng.gauss(0, SONAR_STEP_CM * math.sqrt(dt))
        self.sonar_cm = low + abs(self.sonar_cm - low) if self.sonar_cm < low else self.sonar_cm
        self.sonar_cm = high - abs(self.sonar_cm - high) if self.sonar_cm > high else self.sonar_cm
        self.light_pct = min(100.0, max(0.0, self.light_pct + self._rng.gauss(0, 0.5 * dt)))

    @property
    def moving(self) -> bool:
        return self.walking and self.motion_enabled and self.torque_enabled

    def _update_loads(self) -> None:
        t = self.elapsed_s
        for servo in self.servos_list:
            if not self.torque_enabled:
                servo.load_pct = 0.0
                continue
            swing = math.sin(2 * math.pi * GAIT_HZ * t + servo.phase)
            if self.moving:
                servo.position_deg = servo.rest_deg + servo.amplitude_deg * swing
                load = servo.base_load_pct * (1.0 + 0.3 * abs(swing))
            else:
                servo.position_deg = servo.rest_deg
                load = servo.base_load_pct * 0.6  # holding a standing pose
            if self.moving and servo.heat_gain == BINDING_HEAT_GAIN_C_PER_PCT:
                load = servo.base_load_pct + 10.0 * abs(swing)  # the binding joint fights
            if servo.name == "Head Pan" and self.motion_enabled:
                servo.position_deg = 30.0 * math.sin(2 * math.pi * t / 20.0)
            servo.load_pct = min(100.0, max(0.0, load + self._rng.gauss(0, 1.0)))
            servo.position_deg = min(90.0, max(-90.0, servo.position_deg))

    # -- jobs ---------------------------------------------------------------------------

    def _emit_job(self, status: str, end: datetime | None = None,
                  reason: str | None = None) -> None:
        job = self._job
        assert job is not None
        self._events.append(("job", {
            "job_id": job.job_id, "task_name": job.task_name, "status": status,
            "items_total": job.items_total, "items_done": job.items_done,
            "percent": round(100.0 * job.items_done / job.items_total, 1),
            "start_time": iso_utc(job.start_time),
            "end_time": iso_utc(end) if end else None,
            "last_item": job.last_item, "reason": reason,
        }))

    def _log(self, level: str, message: str, source: str = "job_runner") -> None:
        self._events.append(("logs", {"level": level, "message": message, "source": source}))

    def _step_job(self, dt: float) -> None:
        if not (self.motion_enabled and self.torque_enabled):
            self.walking = False
            return  # paused: no progress while stopped
        if self._job is None:
            self._next_job_in_s -= dt
            self.walking = False
            if self._next_job_in_s > 0:
                return
            self._jobs_started += 1
            task = JOB_TASKS[(self._jobs_started - 1) % len(JOB_TASKS)]
            self._job = _Job(self._jobs_started, task, self._rng.randint(4, 8), self.now)
            self._job.item_left_s = self._rng.uniform(3, 7)
            self._emit_job("started")
            self._log("INFO", f"{self._job.job_id} started: {task}, "
                              f"{self._job.items_total} items")
            return
        job = self._job
        self.walking = True
        job.item_left_s -= dt
        if job.item_left_s > 0:
            return
        job.items_done += 1
        job.last_item = f"ITEM-{self._rng.randint(1000, 9999)}"
        if self._rng.random() < 0.15:
            self._log("WARNING", f"{job.last_item}: barcode unreadable on first pass, rescanned")
        self._log("INFO", f"{job.job_id}: processed {job.last_item} "
                          f"({job.items_done}/{job.items_total})")
        if job.items_done < job.items_total:
            self._emit_job("in_progress")
            job.item_left_s = self._rng.uniform(3, 7)
            return
        self._emit_job("completed", end=self.now)
        self._log("INFO", f"{job.job_id} completed: {job.items_total} items")
        self._job, self._next_job_in_s, self.walking = None, JOB_PAUSE_S, False

    def drain_events(self) -> list[tuple[str, Reading]]:
        events, self._events = self._events, []
        return events

    # -- readings -----------------------------------------------------------------------

    def soc_temperature(self, cpu_percent: float | None) -> float:
        """A Pi 5 SoC under its fan: ~45 C idle, ~70 C flat out; for hosts without a
        thermal sensor (containers, CI) so the simulated robot still reports one."""
        load = 0.0 if cpu_percent is None else min(max(cpu_percent, 0.0), 100.0)
        return round(SOC_IDLE_C + SOC_C_PER_CPU_PCT * load + self._rng.gauss(0, 0.3), 1)

    def battery(self) -> Reading:
        resting = pack_voltage_at(self.soc_pct)
        voltage = resting - self.current_a * PACK_RESISTANCE_OHM + self._rng.gauss(0, 0.01)
        voltage = min(12.6, max(9.0, voltage))
        return {
            "percentage": round(voltage_to_percentage(resting), 1),
            "voltage": round(voltage, 3),
            "current": round(self.current_a, 3),
            "charging": False,
        }

    def servos(self) -> Reading:
        supply_v = pack_voltage_at(self.soc_pct) - self.current_a * PACK_RESISTANCE_OHM
        return {"servos": [{
            "id": s.id, "name": s.name,
            "position": round(s.position_deg + self._rng.gauss(0, 0.2), 1),
            "temperature": round(s.temperature_c, 1),
            "voltage": round(supply_v - 0.1 - 0.002 * s.load_pct, 2),
            "load": round(s.load_pct, 1),
            "torque_enabled": self.torque_enabled,
        } for s in self.servos_list]}

    def imu(self) -> Reading:
        t, moving = self.elapsed_s, self.moving
        sway = math.sin(2 * math.pi * GAIT_HZ * t) if moving else 0.0
        bob = math.sin(4 * math.pi * GAIT_HZ * t) if moving else 0.0
        return {
            "accel_x": round(0.4 * bob + self._rng.gauss(0, 0.05), 4),
            "accel_y": round(0.8 * sway + self._rng.gauss(0, 0.05), 4),
            "accel_z": round(GRAVITY_M_S2 + 0.6 * bob + self._rng.gauss(0, 0.05), 4),
            "gyro_x": round(25.0 * math.cos(2 * math.pi * GAIT_HZ * t) * moving
                            + self._rng.gauss(0, 0.3), 3),
            "gyro_y": round(self._rng.gauss(0, 0.3), 3),
            "gyro_z": round(self._rng.gauss(0, 0.3), 3),
        }

    def sensors(self) -> Reading:
        return {"readings": [
            {"sensor_type": "ultrasonic_distance", "value": round(self.sonar_cm, 1), "unit": "cm"},
            {"sensor_type": "light_level", "value": round(self.light_pct, 1), "unit": "%"},
        ]}

    # -- commands -----------------------------------------------------------------------

    def stop_motion(self) -> None:
        self.motion_enabled = False

    def resume_motion(self) -> None:
        self.motion_enabled = True
        self.torque_enabled = True

    def emergency_stop(self, reason: str) -> None:
        self.motion_enabled = False
        self.torque_enabled = False  # servos unloaded: the robot sags but nothing moves
        if self._job is not None:
            self._emit_job("cancelled", end=self.now, reason=f"emergency stop: {reason}")
            self._log("WARNING", f"{self._job.job_id} cancelled by emergency stop")
            self._job, self._next_job_in_s = None, JOB_PAUSE_S

    def perform(self, action: str, params: Mapping[str, Any]) -> tuple[bool, str]:
        if not self.torque_enabled:
            return False, "servos are unloaded"
        if action == "move":
            direction = str(params.get("direction", "forward"))
            self.walking = True
            return True, f"walking {direction} (simulated)"
        if action in ("head_nod", "head_shake"):
            return True, f"{action.replace('_', ' ')} performed (simulated)"
        return False, f"unknown action {action!r}"
