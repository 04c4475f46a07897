from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.records.errors import InvalidRecord, UnknownRobot
from services.records.repositories import RobotRepository

T0 = datetime(2026, 1, 21, 7, 0, tzinfo=UTC)


def test_first_sight_registers_the_robot(db):
    with db.session() as session:
        assert RobotRepository(session).touch("tonypi_01", T0, ip_address="10.0.0.5") is True
        assert RobotRepository(session).touch("tonypi_01", T0 + timedelta(seconds=5)) is False
    with db.session() as session:
        robot = RobotRepository(session).get("tonypi_01")
    assert robot.name == "tonypi_01"
    assert robot.status == "online"
    assert robot.ip_address == "10.0.0.5"
    assert robot.last_seen == T0 + timedelta(seconds=5)
    assert robot.is_active is True
    assert robot.battery_threshold_low == 20.0


def test_last_seen_never_moves_back(db):
    with db.session() as session:
        robots = RobotRepository(session)
        robots.touch("r1", T0 + timedelta(minutes=5), status="error")
        # A late, redelivered message: its fields still count, its time does not.
        robots.touch("r1", T0, status="maintenance", camera_url="http://r1/cam")
    with db.session() as session:
        robot = RobotRepository(session).get("r1")
    assert robot.last_seen == T0 + timedelta(minutes=5)
    assert robot.status == "maintenance"
    assert robot.camera_url == "http://r1/cam"


def test_none_fields_leave_values_alone(db):
    with db.session() as session:
        robots = RobotRepository(session)
        robots.touch("r1", T0, status="online", ip_address="10.0.0.7")
        robots.touch("r1", T0 + timedelta(seconds=1))
    with db.session() as session:
        robot = RobotRepository(session).get("r1")
    assert (robot.status, robot.ip_address) == ("online", "10.0.0.7")


def test_mark_stale_turns_silent_online_robots_offline(db):
    with db.session() as session:
        robots = RobotRepository(session)
        robots.touch("quiet", T0)
        robots.touch("chatty", T0 + timedelta(minutes=10))
        robots.touch("broken", T0, status="error")
    with db.session() as session:
        stale = RobotRepository(session).mark_stale(T0 + timedelta(minutes=1))
    assert stale == ["quiet"]
    with db.session() as session:
        robots = RobotRepository(session)
        assert robots.get("quiet").status == "offline"
        assert robots.get("chatty").status == "online"
        assert robots.get("broken").status == "error"  # not online, so not touched
        assert robots.mark_stale(T0 + timedelta(minutes=1)) == []
        # Heard from again: back online.
        robots.touch("quiet", T0 + timedelta(minutes=11), status="online")
        assert robots.get("quiet").status == "online"


def test_list_set_status_and_active_only(db):
    with db.session() as session:
        robots = RobotRepository(session)
        for robot_id in ("b", "a", "c"):
            robots.touch(robot_id, T0)
        robots.get("c").is_active = False
        robots.set_status("a", "maintenance")
    with db.session() as session:
        robots = RobotRepository(session)
        assert [robot.robot_id for robot in robots.list()] == ["a", "b"]
        assert [robot.robot_id for robot in robots.list(active_only=False)] == ["a", "b", "c"]
        assert robots.get("a").status == "maintenance"


def test_bad_input_is_a_typed_error(db):
    with db.session() as session:
        robots = RobotRepository(session)
        with pytest.raises(InvalidRecord):
            robots.touch("r1", T0, status="emergency_stopped")
        with pytest.raises(InvalidRecord):
            robots.touch("r1", datetime(2026, 1, 21, 7, 0))  # naive
        with pytest.raises(InvalidRecord):
            robots.touch("x" * 51, T0)
        with pytest.raises(UnknownRobot):
            robots.set_status("ghost", "online")
        with pytest.raises(InvalidRecord):
            robots.mark_stale(datetime(2026, 1, 21))
        assert robots.list(active_only=False) == []
