from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

from services.records.errors import InvalidRecord
from services.records.models import Robot, SystemLog

IST = timezone(timedelta(hours=5, minutes=30))


def test_aware_datetimes_come_back_as_utc(db):
    written = datetime(2026, 1, 21, 12, 54, 4, 123456, tzinfo=IST)
    with db.session() as session:
        session.add(Robot(robot_id="tz_robot", last_seen=written))
    with db.session() as session:  # a fresh session: the value comes from the database
        robot = session.scalars(select(Robot).where(Robot.robot_id == "tz_robot")).one()
        last_seen, created_at = robot.last_seen, robot.created_at
    assert last_seen == written
    assert last_seen.tzinfo is UTC
    assert last_seen.hour == 7 and last_seen.minute == 24  # 12:54 IST is 07:24 UTC
    assert created_at.tzinfo is UTC


def test_server_default_timestamp_is_utc(db):
    before = datetime.now(UTC).replace(microsecond=0)
    with db.session() as session:  # no ORM default involved: CURRENT_TIMESTAMP fills it
        session.execute(text("INSERT INTO system_logs (level, category, message) "
                             "VALUES ('INFO', 'system', 'raw insert')"))
    with db.session() as session:
        stamp = session.scalars(select(SystemLog.timestamp)).one()
    assert stamp.tzinfo is UTC
    assert before - timedelta(seconds=1) <= stamp <= datetime.now(UTC) + timedelta(seconds=1)


def test_naive_datetime_is_refused_on_write(db):
    with pytest.raises(StatementError) as caught, db.session() as session:
        session.add(Robot(robot_id="naive", last_seen=datetime(2026, 1, 21, 7, 24)))
        session.flush()
    assert isinstance(caught.value.orig, InvalidRecord)
    assert "naive" in str(caught.value.orig)
    with db.session() as session:  # rolled back: nothing half-written
        assert session.scalars(select(Robot).where(Robot.robot_id == "naive")).first() is None


def test_utc_comparison_across_offsets(db):
    with db.session() as session:
        session.add(Robot(robot_id="cmp", last_seen=datetime(2026, 1, 1, 10, 0, tzinfo=UTC)))
    boundary = datetime(2026, 1, 1, 11, 30, tzinfo=timezone(timedelta(hours=1)))  # 10:30Z
    with db.session() as session:
        older = session.scalars(select(Robot.robot_id).where(Robot.last_seen < boundary))
        assert list(older) == ["cmp"]
