from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.records.errors import InvalidRecord, UnknownRobot
from services.records.repositories import (
    LogRepository,
    RobotRepository,
    Threshold,
    ThresholdRepository,
)

T0 = datetime(2026, 1, 21, 7, 0, tzinfo=UTC)


def test_log_filters_newest_first(db):
    with db.session() as session:
        logs = LogRepository(session)
        logs.add("info", "mqtt", "connected", timestamp=T0)
        logs.add("WARNING", "robot", "battery low", robot_id="r1", timestamp=T0
                 + timedelta(minutes=1), details={"percentage": 18.5})
        logs.add("ERROR", "robot", "servo 3 hot", robot_id="r1",
                 timestamp=T0 + timedelta(minutes=2))
        logs.add("ERROR", "robot", "fell over", robot_id="r2",
                 timestamp=T0 + timedelta(minutes=3))
        logs.add("INFO", "system", "no timestamp given")
    with db.session() as session:
        logs = LogRepository(session)
        assert [e.message for e in logs.list(robot_id="r1")] == ["servo 3 hot", "battery low"]
        assert [e.message for e in logs.list(level="error")] == ["fell over", "servo 3 hot"]
        assert [e.message for e in logs.list(category="mqtt")] == ["connected"]
        since = logs.list(since=T0 + timedelta(minutes=2), category="robot")
        assert [e.message for e in since] == ["fell over", "servo 3 hot"]
        assert len(logs.list(limit=2)) == 2
        assert logs.list()[0].message == "no timestamp given"  # stamped now: newest
        (warning,) = logs.list(level="WARNING")
        assert warning.level == "WARNING" and warning.details == {"percentage": 18.5}
        assert warning.timestamp == T0 + timedelta(minutes=1)
        assert warning.timestamp.tzinfo is UTC


def test_log_for_unregistered_robot_is_kept(db):
    with db.session() as session:
        LogRepository(session).add("ERROR", "mqtt", "unparseable payload",
                                   robot_id="not_registered")
    with db.session() as session:
        assert len(LogRepository(session).list(robot_id="not_registered")) == 1


def test_bad_log_input_is_a_typed_error(db):
    with db.session() as session:
        logs = LogRepository(session)
        with pytest.raises(InvalidRecord):
            logs.add("LOUD", "mqtt", "x")
        with pytest.raises(InvalidRecord):
            logs.add("INFO", "mqtt", "x", timestamp=datetime(2026, 1, 21))
        assert logs.list() == []


def test_global_defaults_are_effective(db):
    with db.session() as session:
        effective = ThresholdRepository(session).effective(None)
    assert effective["cpu"] == Threshold(warning=70.0, critical=90.0, enabled=True,
                                         low_is_bad=False)
    assert effective["battery"].low_is_bad is True
    assert (effective["battery"].warning, effective["battery"].critical) == (20.0, 10.0)
    assert set(effective) == {"cpu", "memory", "temperature", "battery", "servo_temp",
                              "disk"}


def test_robot_thresholds_override_global_ones(db):
    with db.session() as session:
        RobotRepository(session).touch("hot_bot", T0)
        RobotRepository(session).touch("cool_bot", T0)
        thresholds = ThresholdRepository(session)
        thresholds.set("temperature", 75, 85, robot_id="hot_bot")
        thresholds.set("battery", 30, 15, robot_id="hot_bot", enabled=False)
        thresholds.set("temperature", 76, 86, robot_id="hot_bot")  # replaces, no duplicate
        thresholds.set("cpu", 60, 80)  # the global rule changes for everyone
    with db.session() as session:
        thresholds = ThresholdRepository(session)
        hot = thresholds.effective("hot_bot")
        cool = thresholds.effective("cool_bot")
        unknown = thresholds.effective("never_seen")
    assert (hot["temperature"].warning, hot["temperature"].critical) == (76.0, 86.0)
    assert hot["temperature"].robot_id == "hot_bot"
    assert hot["battery"].enabled is False and hot["battery"].low_is_bad is True
    assert (cool["temperature"].warning, cool["temperature"].robot_id) == (70.0, None)
    assert hot["cpu"].warning == cool["cpu"].warning == unknown["cpu"].warning == 60.0
    assert hot["memory"] == cool["memory"]


def test_inconsistent_thresholds_are_refused(db):
    with db.session() as session:
        thresholds = ThresholdRepository(session)
        with pytest.raises(InvalidRecord):
            thresholds.set("cpu", 90, 70)  # critical must be the higher one
        with pytest.raises(InvalidRecord):
            thresholds.set("battery", 10, 20)  # low is bad: critical is the lower one
        with pytest.raises(UnknownRobot):
            thresholds.set("cpu", 70, 90, robot_id="never_seen")
        assert thresholds.effective(None)["cpu"].warning == 70.0
