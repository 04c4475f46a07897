"""What the console reads from the records for its Jobs and Logs pages, as AlertService is
for alerts: the app asks these facades (on its worker threads) and never opens a session.

    jobs = JobQueries(database).read(JobFilter(status="failed"))
    entries, robots = LogQueries(database).read(LogFilter(level="ERROR"), after=newest)

Every filter is applied by the database, so a match older than the newest `limit` rows is
still found.  Each read is one short session; the rows come back detached (the session
factory does not expire them on commit), so they can be handed to another thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from services.records.db import Database
from services.records.jobs import JobRepository
from services.records.models import Job, SystemLog
from services.records.repositories import LogRepository, RobotRepository

logger = logging.getLogger(__name__)

JOBS_LIMIT = 500
LOGS_LIMIT = 2000
HISTORY_STATUSES = ("completed", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class JobFilter:
    robot_id: str | None = None
    status: str | None = None  # one of HISTORY_STATUSES or None
    date_from: date | None = None  # local calendar days, inclusive
    date_to: date | None = None


@dataclass(frozen=True, slots=True)
class JobsRead:
    active: list[Job]  # newest first
    history: list[Job]  # finished jobs matching the filter, newest first
    robots: list[str]  # every robot the records know, for the filter's choices


def local_day_start(day: date) -> datetime:
    """The UTC instant a local calendar day begins (the operator picks local days)."""
    return datetime.combine(day, time.min).astimezone().astimezone(UTC)


class JobQueries:
    def __init__(self, database: Database) -> None:
        self._db = database

    def read(self, wanted: JobFilter, limit: int = JOBS_LIMIT) -> JobsRead:
        """Active jobs, the filtered history and the robot ids, in one session so the two
        lists agree (a job finishing between two reads would show in neither)."""
        since = None if wanted.date_from is None else local_day_start(wanted.date_from)
        until = (None if wanted.date_to is None
                 else local_day_start(wanted.date_to + timedelta(days=1)))
        with self._db.session() as session:
            jobs = JobRepository(session)
            active = jobs.list(status="active", limit=limit)
            history = jobs.list(robot_id=wanted.robot_id,
                                status=wanted.status or HISTORY_STATUSES,
                                started_since=since, started_until=until, limit=limit)
            robots = _robot_ids(session)
        return JobsRead(active=active, history=history, robots=robots)


@dataclass(frozen=True, slots=True)
class LogFilter:
    level: str | None = None
    category: str | None = None
    robot_id: str | None = None
    since: datetime | None = None  # inclusive, UTC
    until: datetime | None = None  # exclusive, UTC
    text: str = ""

    def follows_live(self, now: datetime) -> bool:
        return self.until is None or self.until > now


class LogQueries:
    def __init__(self, database: Database) -> None:
        self._db = database

    def read(self, wanted: LogFilter, after: datetime | None = None,
             limit: int = LOGS_LIMIT) -> tuple[list[SystemLog], list[str]]:
        """Matching entries newest first (from `after` on when following new ones), and
        every robot id the records know."""
        since = max(filter(None, (wanted.since, after)), default=None)
        with self._db.session() as session:
            entries = LogRepository(session).list(
                robot_id=wanted.robot_id, level=wanted.level, category=wanted.category,
                since=since, until=wanted.until, text=wanted.text.strip() or None,
                limit=limit)
            robots = _robot_ids(session)
        return entries, robots


def _robot_ids(session) -> list[str]:
    return [robot.robot_id for robot in RobotRepository(session).list(active_only=False)]
