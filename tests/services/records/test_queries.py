"""The console's read facades (JobQueries, LogQueries, ReportCatalog) on SQLite and
PostgreSQL: filters applied by the database, newest first, rows usable after the session."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.records.models import Job
from services.records.queries import JobFilter, JobQueries, LogFilter, LogQueries
from services.records.repositories import LogRepository, RobotRepository
from services.reports.catalog import ReportCatalog
from services.reports.record import record_report

NOW = datetime.now(UTC).replace(microsecond=0)


def _seed_jobs(db):
    with db.session() as session:
        for robot in ("tonypi_a", "tonypi_b"):
            RobotRepository(session).touch(robot, NOW)
        session.add_all([
            Job(robot_id="tonypi_a", task_name="running", status="active",
                start_time=NOW - timedelta(minutes=5)),
            Job(robot_id="tonypi_a", task_name="old failure", status="failed",
                start_time=NOW - timedelta(days=40), end_time=NOW - timedelta(days=40)),
            Job(robot_id="tonypi_b", task_name="done", status="completed",
                start_time=NOW - timedelta(hours=1), end_time=NOW - timedelta(minutes=30)),
            Job(robot_id="tonypi_a", task_name="cancelled", status="cancelled",
                start_time=NOW - timedelta(hours=2), end_time=NOW - timedelta(hours=1)),
        ])


def test_jobs_active_history_and_robots(db):
    _seed_jobs(db)
    read = JobQueries(db).read(JobFilter())
    assert [job.task_name for job in read.active] == ["running"]
    # history holds finished jobs only, newest first, old ones too when no date is given
    assert [job.task_name for job in read.history] == ["done", "cancelled", "old failure"]
    assert sorted(read.robots) == ["tonypi_a", "tonypi_b"]


def test_job_filters_are_applied_by_the_database(db):
    _seed_jobs(db)
    queries = JobQueries(db)
    assert [job.task_name for job in queries.read(
        JobFilter(robot_id="tonypi_a")).history] == ["cancelled", "old failure"]
    assert [job.task_name for job in queries.read(
        JobFilter(status="failed")).history] == ["old failure"]
    today = datetime.now().date()
    recent = queries.read(JobFilter(date_from=today - timedelta(days=1), date_to=today))
    assert [job.task_name for job in recent.history] == ["done", "cancelled"]
    # the limit cuts the newest first
    assert [job.task_name for job in queries.read(JobFilter(), limit=1).history] == ["done"]
    assert queries.read(JobFilter(date_from=date(2000, 1, 1), date_to=date(2000, 1, 2))
                        ).history == []


def test_logs_filtered_and_followed(db):
    with db.session() as session:
        RobotRepository(session).touch("tonypi_a", NOW)
        logs = LogRepository(session)
        logs.add("INFO", "robot", "job started", robot_id="tonypi_a",
                 timestamp=NOW - timedelta(minutes=3))
        logs.add("ERROR", "robot", "servo 3 at 100% load", robot_id="tonypi_a",
                 timestamp=NOW - timedelta(minutes=2))
        logs.add("WARNING", "mqtt", "broker reconnect", timestamp=NOW - timedelta(minutes=1))
    queries = LogQueries(db)
    entries, robots = queries.read(LogFilter())
    assert [e.message for e in entries] == ["broker reconnect", "servo 3 at 100% load",
                                            "job started"]
    assert robots == ["tonypi_a"]
    assert [e.message for e in queries.read(LogFilter(level="ERROR"))[0]] == [
        "servo 3 at 100% load"]
    # text is a plain substring, padded blanks ignored, % taken literally
    assert [e.message for e in queries.read(LogFilter(text=" 100% "))[0]] == [
        "servo 3 at 100% load"]
    assert [e.message for e in queries.read(
        LogFilter(since=NOW - timedelta(minutes=10)), after=NOW - timedelta(minutes=2))[0]
    ] == ["broker reconnect", "servo 3 at 100% load"]  # the later of since and after wins
    assert [e.message for e in queries.read(
        LogFilter(since=NOW - timedelta(minutes=2), until=NOW - timedelta(minutes=1)))[0]
    ] == ["servo 3 at 100% load"]  # until is exclusive
    assert len(queries.read(LogFilter(), limit=2)[0]) == 2


def test_report_catalog_lists_newest_first_and_gets_one(db):
    with db.session() as session:
        RobotRepository(session).touch("tonypi_a", NOW)
    first = record_report(db, title="Fleet week", kind="fleet", robot_ids=["x", "y"],
                          summary={"robots": ["x", "y"], "start": "2026-03-01T00:00:00",
                                   "stop": "2026-03-08T00:00:00+00:00"},
                          file_path="/tmp/fleet.pdf", author="ana")
    second = record_report(db, title="One robot", kind="robot", robot_ids=["tonypi_a"],
                           summary={}, file_path="/tmp/one.pdf", author="ben")
    catalog = ReportCatalog(db)
    rows = catalog.list()
    assert [row.id for row in rows] == [second, first]
    assert rows[0].robots == ("tonypi_a",) and rows[0].start is None  # from robot_id
    fleet = catalog.get(first)
    assert fleet.robots == ("x", "y") and fleet.author == "ana" and fleet.kind == "fleet"
    # a time recorded without a zone is read as UTC
    assert fleet.start == datetime(2026, 3, 1, tzinfo=UTC)
    assert fleet.stop == datetime(2026, 3, 8, tzinfo=UTC)
    assert [row.id for row in catalog.list(limit=1)] == [second]
    assert catalog.get(second + 100) is None
