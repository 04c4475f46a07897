from __future__ import annotations

import statistics
from datetime import UTC, datetime

import pytest

from robot_agent.collectors.simulation import (
    OVERHEATING_SERVO_ID,
    SimulatedRobot,
    pack_voltage_at,
    voltage_to_percentage,
)


def run(robot: SimulatedRobot, seconds: float, step_s: float = 1.0):
    """Yield (elapsed, battery, servos) once per simulated step."""
    elapsed = 0.0
    while elapsed < seconds:
        robot.advance(step_s)
        elapsed += step_s
        yield robot.elapsed_s, robot.battery(), robot.servos()["servos"]


def test_lipo_curve_maps_voltage_and_percentage_both_ways():
    assert pack_voltage_at(100) == pytest.approx(12.6)
    assert pack_voltage_at(0) == pytest.approx(9.0)
    for pct in (3, 15, 42.5, 77, 99):
        assert voltage_to_percentage(pack_voltage_at(pct)) == pytest.approx(pct)
    assert voltage_to_percentage(8.0) == 0.0
    assert voltage_to_percentage(13.0) == 100.0


def test_normal_robot_stays_healthy_and_plausible():
    robot = SimulatedRobot("normal", seed=1)
    servos = robot.servos()["servos"]
    assert len(servos) == 18
    assert {"Head Pan", "Left Hip Pitch", "Right Knee"} <= {s["name"] for s in servos}
    for _, battery, servos in run(robot, 600):
        assert 9.0 <= battery["voltage"] <= 12.6
        assert battery["percentage"] > 50
        for servo in servos:
            assert -90 <= servo["position"] <= 90
            assert servo["temperature"] < 60
            assert 0 <= servo["load"] <= 100
    imu = [robot.imu() for _ in range(200)]
    assert statistics.mean(r["accel_z"] for r in imu) == pytest.approx(9.81, abs=0.2)
    readings = {r["sensor_type"]: r for r in robot.sensors()["readings"]}
    assert 4 <= readings["ultrasonic_distance"]["value"] <= 400
    assert readings["ultrasonic_distance"]["unit"] == "cm"


def test_overheating_servo_passes_75_c_within_a_few_minutes_then_cools_when_stopped():
    robot = SimulatedRobot("overheating", seed=2)
    crossed_at = None
    for elapsed, _, servos in run(robot, 300):
        hot = next(s for s in servos if s["id"] == OVERHEATING_SERVO_ID)
        others = [s["temperature"] for s in servos if s["id"] != OVERHEATING_SERVO_ID]
        if hot["temperature"] > 75:
            crossed_at = elapsed
            break
    assert crossed_at is not None and crossed_at <= 240
    assert max(others) < 60  # only the binding joint overheats
    robot.emergency_stop("too hot")
    before = hot["temperature"]
    robot.advance(120)
    after = next(s for s in robot.servos()["servos"] if s["id"] == OVERHEATING_SERVO_ID)
    assert after["temperature"] < before - 15
    assert after["torque_enabled"] is False and after["load"] == 0


def test_draining_battery_falls_under_20_then_10_percent_quickly():
    robot = SimulatedRobot("draining", seed=3)
    under_20 = under_10 = None
    previous = 100.0
    for elapsed, battery, _ in run(robot, 600):
        assert battery["percentage"] <= previous + 0.5  # it never recharges
        assert 9.0 <= battery["voltage"] <= 12.6 and battery["current"] > 1.0
        previous = battery["percentage"]
        if under_20 is None and battery["percentage"] < 20:
            under_20 = elapsed
        if battery["percentage"] < 10:
            under_10 = elapsed
            break
    assert under_20 is not None and under_10 is not None
    assert under_20 < under_10 <= 420


def test_job_scenario_runs_jobs_item_by_item_and_repeats():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    robot = SimulatedRobot("job", seed=4, start=start)
    events = []
    for _ in run(robot, 240):
        events.extend(robot.drain_events())
    jobs = [data for kind, data in events if kind == "job"]
    logs = [data for kind, data in events if kind == "logs"]
    completed = [j for j in jobs if j["status"] == "completed"]
    assert len(completed) >= 2
    first_id = jobs[0]["job_id"]
    first = [j for j in jobs if j["job_id"] == first_id]
    assert first[0]["status"] == "started" and first[0]["items_done"] == 0
    assert first[0]["end_time"] is None
    assert [j["status"] for j in first[1:-1]] == ["in_progress"] * (len(first) - 2)
    assert [j["items_done"] for j in first] == list(range(first[0]["items_total"] + 1))
    assert first[-1]["status"] == "completed" and first[-1]["percent"] == 100.0
    assert first[-1]["end_time"] > first[-1]["start_time"] >= start.isoformat()
    assert len({j["job_id"] for j in jobs}) >= 2
    assert logs and all(log["level"] in ("INFO", "WARNING") for log in logs)


def test_emergency_stop_cancels_the_running_job():
    robot = SimulatedRobot("job", seed=5)
    robot.advance(5)  # a job has started
    robot.drain_events()
    robot.emergency_stop("operator")
    cancelled = [d for k, d in robot.drain_events() if k == "job"]
    assert cancelled and cancelled[-1]["status"] == "cancelled"
    assert "operator" in cancelled[-1]["reason"]
    robot.advance(60)
    assert not [d for k, d in robot.drain_events() if k == "job"]  # no progress while stopped
    assert robot.perform("move", {})[0] is False
    robot.resume_motion()
    robot.advance(30)
    assert any(d["status"] == "started" for k, d in robot.drain_events() if k == "job")


def test_same_seed_same_robot_different_seed_different_robot():
    a, b, c = (SimulatedRobot("normal", seed=s) for s in (9, 9, 10))
    for robot in (a, b, c):
        robot.advance(30)
    assert a.servos() == b.servos() and a.imu() == b.imu() and a.sensors() == b.sensors()
    assert a.servos() != c.servos()


def test_update_follows_the_monotonic_clock():
    robot = SimulatedRobot("normal", seed=1)
    robot.update(100.0)
    assert robot.elapsed_s == 0
    robot.update(112.5)
    robot.update(110.0)  # a clock going backwards is ignored
    assert robot.elapsed_s == pytest.approx(12.5)


def test_unknown_scenario_is_rejected():
    with pytest.raises(ValueError, match="scenario"):
        SimulatedRobot("explode")
