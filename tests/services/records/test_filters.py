"""SQL filters of the log and job listings, on SQLite and real PostgreSQL (see conftest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.records.errors import InvalidRecord
from services.records.repositories import JobRepository, LogRepository, RobotRepository
from services.wire.model import JobUpdate

T0 = datetime(2026, 1, 21, 7, 0, tzinfo=UTC)
TRICKY = ("100% done", "100 percent done", "load_factor=2", "loadXfactor=2",
          "robot 'a' said \"hi\"", "wow! really", "wowX really", "back\\slash",
          "x'); drop table robots;--")


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def messages(db, **filters) -> list[str]:
    with db.session() as session:
        return [entry.message for entry in LogRepository(session).list(**filters)]


@pytest.fixture
def tricky_logs(db):
    with db.session() as session:
        logs = LogRepository(session)
        for i, message in enumerate(TRICKY):
            logs.add("INFO", "system", message, timestamp=minutes(i))
    return db


@pytest.mark.parametrize(("text", "expected"), [
    ("%", ["100% done"]),
    ("0% D", ["100% done"]),  # case-insensitive, % literal
    ("_", ["load_factor=2"]),
    ("d_f", ["load_factor=2"]),  # _ is not "any one character"
    ("'a'", ["robot 'a' said \"hi\""]),
    ('"HI"', ["robot 'a' said \"hi\""]),
    ("!", ["wow! really"]),  # the LIKE escape character itself is literal too
    ("w! r", ["wow! really"]),
    ("\\", ["back\\slash"]),
    ("'); drop", ["x'); drop table robots;--"]),
    ("no such text", []),
])
def test_log_text_search_is_literal(tricky_logs, text, expected):
    assert messages(tricky_logs, text=text) == expected


def test_log_text_search_newest_first_and_empty_text_is_no_filter(tricky_logs):
    assert messages(tricky_logs, text="DONE") == ["100 percent done", "100% done"]
    assert len(messages(tricky_logs, text="")) == len(TRICKY)


def test_log_time_range_levels_category_robot(db):
    with db.session() as session:
        logs = LogRepository(session)
        logs.add("INFO", "robot", "a info", robot_id="r1", timestamp=minutes(0))
        logs.add("WARNING", "robot", "a warn", robot_id="r1", timestamp=minutes(1))
        logs.add("ERROR", "mqtt", "b error", robot_id="r2", timestamp=minutes(2))
        logs.add("CRITICAL", "robot", "a crit", robot_id="r1", timestamp=minutes(3))
    # since inclusive, until exclusive
    assert messages(db, since=minutes(1), until=minutes(3)) == ["b error", "a warn"]
    assert messages(db, until=minutes(1)) == ["a info"]
    # an until given in another zone is the same instant
    other_zone = minutes(2).astimezone(datetime.now().astimezone().tzinfo)
    assert messages(db, until=other_zone) == ["a warn", "a info"]
    assert messages(db, level=["error", "CRITICAL"]) == ["a crit", "b error"]
    assert messages(db, level=("warning",), robot_id="r1") == ["a warn"]
    assert messages(db, level=[]) == []
    assert messages(db, category="robot", text="A ", since=minutes(1)) == ["a crit", "a warn"]
    assert messages(db, robot_id="r2", category="robot") == []
    with pytest.raises(InvalidRecord, match="until"):
        messages(db, until=datetime(2026, 1, 21, 7, 0))  # naive: refused


def test_log_match_older_than_newest_rows_is_found(db):
    with db.session() as session:
        logs = LogRepository(session)
        logs.add("ERROR", "robot", "the Needle_1%", robot_id="r9", timestamp=minutes(0))
        for i in range(60):
            logs.add("INFO", "robot", f"chatter {i}", robot_id="r1", timestamp=minutes(10 + i))
    assert len(messages(db, limit=20)) == 20
    assert "the Needle_1%" not in messages(db, limit=20)
    assert messages(db, text="needle_1%", limit=20) == ["the Needle_1%"]
    assert messages(db, level="ERROR", limit=20) == ["the Needle_1%"]
    assert messages(db, robot_id="r9", limit=1) == ["the Needle_1%"]
    assert messages(db, until=minutes(5), limit=1) == ["the Needle_1%"]
    assert messages(db, text="chatter", limit=3) == ["chatter 59", "chatter 58", "chatter 57"]


def start_job(db, robot: str, key: str, start: datetime, status: str = "completed") -> None:
    with db.session() as session:
        JobRepository(session).apply(robot, JobUpdate(status=status, started=True,
                                                      job_key=key, start_time=start), start)


def job_keys(db, **filters) -> list[str]:
    with db.session() as session:
        return [job.job_key for job in JobRepository(session).list(**filters)]


@pytest.fixture
def robots(db):
    with db.session() as session:
        for robot in ("r1", "r2", "it's \"quoted\"_%"):
            RobotRepository(session).touch(robot, T0)
    return db


def test_job_filters_robot_status_and_start_range(robots):
    db = robots
    start_job(db, "r1", "a", minutes(0), "completed")
    start_job(db, "r2", "b", minutes(1), "failed")
    start_job(db, "r1", "c", minutes(2), "cancelled")
    start_job(db, "it's \"quoted\"_%", "d", minutes(3), "active")
    assert job_keys(db) == ["d", "c", "b", "a"]
    assert job_keys(db, status=["completed", "failed", "cancelled"]) == ["c", "b", "a"]
    assert job_keys(db, status="failed") == ["b"]
    assert job_keys(db, status=[]) == []
    assert job_keys(db, robot_id="r1", status=("completed", "cancelled")) == ["c", "a"]
    assert job_keys(db, robot_id="it's \"quoted\"_%") == ["d"]
    assert job_keys(db, robot_id="it's%") == []  # ids match exactly, never as patterns
    assert job_keys(db, started_since=minutes(1), started_until=minutes(3)) == ["c", "b"]
    assert job_keys(db, started_until=minutes(0)) == []
    with pytest.raises(InvalidRecord, match="started_since"):
        job_keys(db, started_since=datetime(2026, 1, 21))


def test_job_match_older_than_newest_rows_is_found(robots):
    db = robots
    start_job(db, "r2", "old-failure", minutes(0), "failed")
    for i in range(30):
        start_job(db, "r1", f"k{i}", minutes(10 + i), "completed")
    assert "old-failure" not in job_keys(db, limit=10)
    assert job_keys(db, status="failed", limit=10) == ["old-failure"]
    assert job_keys(db, robot_id="r2", limit=1) == ["old-failure"]
    assert job_keys(db, started_until=minutes(5), limit=1) == ["old-failure"]
    assert job_keys(db, started_since=minutes(38), limit=10) == ["k29", "k28"]
