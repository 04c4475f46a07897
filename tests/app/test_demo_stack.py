"""The demo stack end to end: embedded broker -> simulated robots -> ingest -> SQLite."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from app.demo_stack import DEFAULT_ROBOTS, DemoStack, DemoStackError, demo_robots
from robot_agent.agent import build_agent
from robot_agent.collectors.simulation import OVERHEATING_SERVO_ID
from robot_agent.config import ConfigError, load_config
from services.alerts.store import AlertStore
from services.records.db import Database
from services.records.jobs import JobRepository
from services.records.repositories import RobotRepository
from services.wire.topics import is_valid_robot_id
from tests.support.waiting import wait_until

STARTUP_LIMIT_S = 10.0
OVERHEATING, DRAINING, JOB, NORMAL = ("tonypi_demo_01", "tonypi_demo_02", "tonypi_demo_03",
                                      "tonypi_demo_04")
SERVO_WARNING_C = 60.0  # the seeded servo_temp warning threshold


@pytest.fixture(scope="module")
def demo():
    stack = DemoStack()
    began = time.monotonic()
    stack.start()
    stack.measured_startup_s = time.monotonic() - began
    yield stack
    stack.stop()


def registered(stack: DemoStack) -> dict[str, str]:
    with stack.database.session() as session:
        return {r.robot_id: r.status for r in RobotRepository(session).list()}


def recent(stack: DemoStack, robot_id: str, measurement: str, field: str, series: str = "",
           minutes: float = 5):
    now = datetime.now(UTC)
    return stack.history.query(robot_id, measurement, field, now - timedelta(minutes=minutes),
                               now + timedelta(seconds=1), max_points=300, series=series)


def test_starts_within_a_few_seconds_with_lab_server_style_endpoints(demo):
    assert demo.measured_startup_s < STARTUP_LIMIT_S
    assert demo.startup_s is not None and demo.startup_s <= demo.measured_startup_s
    assert demo.mqtt_host == "127.0.0.1" and demo.mqtt_port > 0
    assert demo.records_url.startswith("sqlite:///") and demo.history_url.startswith("sqlite:")
    assert demo.workdir.is_dir() and demo.workdir.name.startswith("tonypi-demo-")
    assert set(demo.agents) == set(DEFAULT_ROBOTS)
    assert demo.ingest is not None and demo.database is not None and demo.history is not None


def test_every_robot_is_registered_and_has_history_within_10_s(demo):
    wait_until(lambda: set(DEFAULT_ROBOTS) <= set(registered(demo)), 10,
               message="all robots registered")
    assert set(registered(demo).values()) == {"online"}
    wanted = {("performance", "cpu_percent", ""), ("battery", "percentage", ""),
              ("servos", "temperature", f"servo_{OVERHEATING_SERVO_ID}")}

    def all_have_samples() -> bool:
        if not set(DEFAULT_ROBOTS) <= set(demo.history.list_robots()):
            return False
        return all(wanted <= {(k.measurement, k.field, k.series)
                              for k in demo.history.list_fields(robot)}
                   for robot in DEFAULT_ROBOTS)

    wait_until(all_have_samples, 10, message="samples of every robot")
    for robot in DEFAULT_ROBOTS:
        assert recent(demo, robot, "battery", "percentage")


def test_the_job_robot_runs_a_job(demo):
    seen = []

    def active_job() -> bool:
        with demo.database.session() as session:
            job = JobRepository(session).active(JOB)
            if job is not None:
                seen.append((job.job_key, job.task_name, job.items_total))
            return job is not None

    wait_until(active_job, 10, message="an active job")
    job_key, task_name, items_total = seen[-1]
    assert job_key.startswith("job-") and task_name and items_total >= 1
    with demo.database.session() as session:
        for robot in (OVERHEATING, DRAINING, NORMAL):
            assert JobRepository(session).active(robot) is None


def test_the_overheating_servo_reaches_warning_and_the_battery_drains_within_30_s(demo):
    def hottest(robot_id: str) -> float:
        buckets = recent(demo, robot_id, "servos", "temperature",
                         f"servo_{OVERHEATING_SERVO_ID}")
        return max((b.max for b in buckets), default=float("-inf"))

    wait_until(lambda: hottest(OVERHEATING) >= SERVO_WARNING_C, 30, interval_s=0.5,
               message=f"servo {OVERHEATING_SERVO_ID} of {OVERHEATING} at {SERVO_WARNING_C} C")
    # only the robot with the binding joint: the same servo elsewhere stays cool
    assert hottest(NORMAL) < SERVO_WARNING_C
    battery = recent(demo, DRAINING, "battery", "percentage")
    assert battery[0].max - battery[-1].min >= 2.0  # points of charge lost so far


def test_stop_is_clean_idempotent_and_removes_the_temp_dir():
    threads_before = set(threading.enumerate())
    stack = DemoStack(robots={"tonypi_demo_01": "overheating", "tonypi_demo_03": "job"})
    stack.start()
    workdir = stack.workdir
    wait_until(lambda: len(registered(stack)) == 2, 10, message="both robots registered")
    began = time.monotonic()
    stack.stop()
    stopped_in_s = time.monotonic() - began
    assert stopped_in_s < 10
    assert not workdir.exists()
    left = set(threading.enumerate()) - threads_before
    assert not left, f"threads left behind: {[t.name for t in left]}"
    stack.stop()  # idempotent
    with pytest.raises(DemoStackError):
        _ = stack.mqtt_port


def test_a_kept_workdir_records_the_robots_offline_and_serves_a_second_run(tmp_path):
    robots = {"tonypi_demo_02": "draining", "tonypi_demo_04": "normal"}
    for run in range(2):
        with DemoStack(workdir=tmp_path, robots=robots) as stack:
            wait_until(lambda s=stack: set(registered(s).values()) == {"online"}
                       and len(registered(s)) == 2, 10, message=f"robots online, run {run}")
            url = stack.records_url
        assert tmp_path.is_dir()
        database = Database(url)
        try:
            with database.session() as session:
                statuses = {r.robot_id: r.status for r in RobotRepository(session).list()}
                network = [(a.robot_id, a.title) for a in AlertStore(session).list()
                           if a.alert_type == "network"]
        finally:
            database.dispose()
        assert statuses == dict.fromkeys(robots, "offline")
        # Closing the demo is robots saying goodbye, not connections lost.
        assert network == [], f"run {run}"


def test_demo_robots_and_bad_scenarios():
    assert demo_robots(4) == dict(DEFAULT_ROBOTS)
    many = demo_robots(10)
    assert len(many) == 10 and all(is_valid_robot_id(r) for r in many)
    assert many["tonypi_demo_05"] == "overheating" and many["tonypi_demo_10"] == "draining"
    assert list(demo_robots(2)) == [OVERHEATING, DRAINING]
    with pytest.raises(ValueError):
        demo_robots(0)
    with pytest.raises(ValueError, match="unknown scenario"):
        DemoStack(robots={"tonypi_x": "exploding"})


def test_sim_speed_reaches_the_simulation(tmp_path):
    config = load_config(env={"TONYPI_AGENT_SIM_SPEED": "4"},
                         overrides={"robot_id": "speedy", "simulate": True,
                                    "outbox_path": tmp_path / "outbox.db"})
    assert config.sim_speed == 4.0
    agent = build_agent(config)
    try:
        assert agent.hardware.time_scale == 4.0
        robot = agent.hardware
        robot.update(100.0)
        robot.update(102.5)  # 2.5 s of wall time is 10 s of robot time
        assert robot.elapsed_s == pytest.approx(10.0)
        # ...while its clock (job start and end times) stays on the wall clock
        assert robot.now == robot._start + timedelta(seconds=2.5)
    finally:
        agent.outbox.close()
    assert load_config(env={}, overrides={"robot_id": "plain"}).sim_speed == 1.0
    for bad in ("0", "-1", "nan", "inf", "fast"):
        with pytest.raises(ConfigError, match="sim_speed"):
            load_config(env={"TONYPI_AGENT_SIM_SPEED": bad}, overrides={"robot_id": "x"})
