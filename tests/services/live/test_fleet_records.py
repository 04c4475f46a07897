"""Robots the records know are listed with last seen and open alerts; thresholds with
per-robot overrides reach the fleet (app/fleet_records.py, on SQLite and PostgreSQL)."""

from datetime import UTC, datetime, timedelta

import pytest

from app.fleet_records import read_fleet_records, signal_thresholds
from services.live.fleet import FleetState
from services.live.model import Health
from services.records.db import Database
from services.records.migrate import upgrade
from services.records.models import Alert
from services.records.repositories import RobotRepository, ThresholdRepository

NOW = datetime(2026, 11, 22, 10, 15, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request):
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    upgrade(url)
    db = Database(url)
    yield db
    db.dispose()


def _alert(robot_id, severity, resolved, created_at, source="cpu"):
    # one open alert per (robot, type, source): the sources differ
    return Alert(robot_id=robot_id, alert_type="performance", severity=severity,
                 title="CPU usage critical", message="m", source=source,
                 resolved=resolved, created_at=created_at)


def test_silent_robots_are_listed_with_last_seen_and_open_alerts(database):
    with database.session() as session:
        robots = RobotRepository(session)
        robots.touch("silent_01", NOW - timedelta(hours=2), status="offline")
        robots.touch("busy_02", NOW - timedelta(seconds=5))
        session.add_all([_alert("silent_01", "critical", False, NOW - timedelta(minutes=5)),
                         _alert("silent_01", "warning", False, NOW - timedelta(minutes=4),
                                "memory"),
                         _alert("silent_01", "warning", True, NOW - timedelta(minutes=3))])
        ThresholdRepository(session).set("cpu", 40, 50, robot_id="busy_02")

    records = read_fleet_records(database, with_thresholds=True,
                                 marker_robots=frozenset({"silent_01"}), now=NOW)
    fleet = FleetState(clock=lambda: NOW.timestamp())
    fleet.apply_records(records.robots)
    silent = fleet.snapshot("silent_01")
    assert silent.health is Health.OFFLINE
    assert silent.last_seen == NOW - timedelta(hours=2)
    assert silent.open_alerts == 2
    assert silent.reasons == ("no message for 2 h (per the records)",)
    assert fleet.snapshot("busy_02").open_alerts == 0
    # markers: every alert of the page's robots in the last 15 min, where it belongs
    assert [m.severity for m in records.markers] == ["critical", "warning", "warning"]
    assert records.markers[0].signal == ("performance", "cpu_percent")

    global_thresholds, per_robot = records.thresholds
    assert global_thresholds["cpu"].warning == 70 and global_thresholds["disk"].critical == 95
    assert per_robot["busy_02"]["cpu"].warning == 40
    assert per_robot["busy_02"]["memory"].warning == 75  # the global row, not overridden
    fleet.set_thresholds(global_thresholds, per_robot)
    assert fleet.thresholds_for("busy_02")["cpu"].critical == 50
    assert fleet.thresholds_for("silent_01")["cpu"].critical == 90
    assert signal_thresholds(per_robot["busy_02"])[("battery", "percentage")].low_is_bad
