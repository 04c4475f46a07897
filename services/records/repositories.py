"""Repositories over the records tables, each working inside a caller's Session.

Callers own the transaction (Database.session() commits or rolls back); repositories
only flush.  Every query is a SQLAlchemy expression with bound parameters, so a robot
id such as `x'); drop table robots;--` is stored and matched as plain data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.records.errors import InvalidRecord, UnknownRobot
from services.records.jobs import JobRepository
from services.records.models import (
    ROBOT_ID_MAX_LEN,
    ROBOT_STATUSES,
    AlertThreshold,
    Robot,
    SystemLog,
)
from services.records.types import require_aware, require_text
from services.vocabulary import LOG_LEVELS  # app/logs_page.py still imports it from here

logger = logging.getLogger(__name__)

__all__ = ["JobRepository", "LogRepository", "RobotRepository", "Threshold",
           "ThresholdRepository"]

MAX_LOGS_LISTED = 10_000
LOW_IS_BAD_METRICS = frozenset({"battery"})  # alert when the value falls, not rises


def _check_status(status: str) -> str:
    if status not in ROBOT_STATUSES:
        raise InvalidRecord(f"unknown robot status {status!r}; "
                            f"expected one of {', '.join(ROBOT_STATUSES)}")
    return status


class RobotRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, robot_id: str) -> Robot | None:
        return self.session.scalars(select(Robot).where(Robot.robot_id == robot_id)).first()

    def list(self, active_only: bool = True) -> list[Robot]:
        statement = select(Robot).order_by(Robot.robot_id)
        if active_only:
            statement = statement.where(Robot.is_active.is_not(False))
        return list(self.session.scalars(statement))

    def touch(self, robot_id: str, seen_at: datetime, *, status: str | None = None,
              ip_address: str | None = None, camera_url: str | None = None) -> bool:
        """Note that the robot was heard from at `seen_at`; register it on first sight.

        last_seen only moves forward, so a late or redelivered message cannot make a
        robot look older than it is.  Returns True when the robot was just registered.
        """
        require_text(robot_id, ROBOT_ID_MAX_LEN, "robot_id")
        seen_at = require_aware(seen_at, "seen_at")
        if status is not None:
            _check_status(status)
        robot = self.get(robot_id)
        if robot is None:
            if self._register(robot_id, seen_at, status, ip_address, camera_url):
                return True
            robot = self.get(robot_id)  # another writer registered it just now
            if robot is None:
                raise UnknownRobot(f"robot {robot_id!r} could not be registered")
        if robot.last_seen is None or seen_at > robot.last_seen:
            robot.last_seen = seen_at
        if status is not None:
            robot.status = status
        if ip_address is not None:
            robot.ip_address = ip_address
        if camera_url is not None:
            robot.camera_url = camera_url
        self.session.flush()
        return False

    def _register(self, robot_id: str, seen_at: datetime, status: str | None,
                  ip_address: str | None, camera_url: str | None) -> bool:
        """Insert the robot unless it exists; True if this call inserted it.

        ON CONFLICT DO NOTHING rather than a savepoint: two ingest workers seeing a new
        robot at once must not fail, and pysqlite's savepoints are unreliable.
        """
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(Robot).values(
            robot_id=robot_id, name=robot_id, status=status or "online",
            ip_address=ip_address, camera_url=camera_url, last_seen=seen_at,
        ).on_conflict_do_nothing(index_elements=[Robot.robot_id]).returning(Robot.id)
        # rowcount is -1 for this statement with psycopg 3; RETURNING tells the truth.
        created = self.session.execute(statement).first() is not None
        if created:
            logger.info("registered new robot %r", robot_id)
        return created

    def set_status(self, robot_id: str, status: str) -> None:
        robot = self.get(robot_id)
        if robot is None:
            raise UnknownRobot(f"robot {robot_id!r} is not registered")
        robot.status = _check_status(status)
        self.session.flush()

    def mark_stale(self, before: datetime) -> list[str]:
        """Robots online but silent since before `before` become offline; their ids."""
        before = require_aware(before, "before")
        statement = (select(Robot).where(Robot.status == "online", Robot.last_seen < before)
                     .order_by(Robot.robot_id))
        stale = list(self.session.scalars(statement))
        for robot in stale:
            robot.status = "offline"
        self.session.flush()
        return [robot.robot_id for robot in stale]


class LogRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, level: str, category: str, message: str, *, robot_id: str | None = None,
            details: Mapping[str, Any] | None = None,
            timestamp: datetime | None = None) -> SystemLog:
        level = level.upper()
        if level not in LOG_LEVELS:
            raise InvalidRecord(f"unknown log level {level!r}; "
                                f"expected one of {', '.join(LOG_LEVELS)}")
        require_text(category, 50, "category")
        if robot_id is not None:
            require_text(robot_id, ROBOT_ID_MAX_LEN, "robot_id")
        timestamp = require_aware(timestamp, "timestamp") if timestamp else datetime.now(UTC)
        entry = SystemLog(level=level, category=category, message=message,
                          robot_id=robot_id, timestamp=timestamp,
                          details=dict(details) if details is not None else None)
        self.session.add(entry)
        self.session.flush()
        return entry

    # LIKE's escape character; not a backslash, which PostgreSQL and SQLite would read
    # differently inside the ESCAPE literal.
    LIKE_ESCAPE = "!"

    @classmethod
    def contains_pattern(cls, text: str) -> str:
        """A LIKE pattern matching `text` anywhere, its % and _ taken literally."""
        escape = cls.LIKE_ESCAPE
        for special in (escape, "%", "_"):  # the escape character itself first
            text = text.replace(special, escape + special)
        return f"%{text}%"

    def list(self, robot_id: str | None = None, level: str | Iterable[str] | None = None,
             category: str | None = None, since: datetime | None = None,
             limit: int = 200, *, until: datetime | None = None,
             text: str | None = None) -> list[SystemLog]:
        """Log entries newest first, filtered in SQL by whichever arguments are given.

        `level` is one level or several; `since` is inclusive, `until` exclusive; `text`
        matches the message case-insensitively as a plain substring (SQLite folds the
        case of ASCII letters only).
        """
        statement = select(SystemLog)
        if robot_id is not None:
            statement = statement.where(SystemLog.robot_id == robot_id)
        if level is not None:
            levels = [level] if isinstance(level, str) else list(level)
            statement = statement.where(SystemLog.level.in_([name.upper() for name in levels]))
        if category is not None:
            statement = statement.where(SystemLog.category == category)
        if since is not None:
            statement = statement.where(SystemLog.timestamp >= require_aware(since, "since"))
        if until is not None:
            statement = statement.where(SystemLog.timestamp < require_aware(until, "until"))
        if text:
            statement = statement.where(SystemLog.message.ilike(
                self.contains_pattern(text), escape=self.LIKE_ESCAPE))
        limit = max(0, min(limit, MAX_LOGS_LISTED))
        statement = statement.order_by(SystemLog.timestamp.desc(), SystemLog.id.desc())
        return list(self.session.scalars(statement.limit(limit)))


@dataclass(frozen=True, slots=True)
class Threshold:
    """The alert limits in force for one metric; `robot_id` None means the global rule."""

    warning: float
    critical: float
    enabled: bool
    low_is_bad: bool
    robot_id: str | None = None


class ThresholdRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def effective(self, robot_id: str | None) -> dict[str, Threshold]:
        """Thresholds by metric_type: the robot's own rows override the global ones."""
        scope = AlertThreshold.robot_id.is_(None)
        if robot_id is not None:
            scope = or_(scope, AlertThreshold.robot_id == robot_id)
        # Globals first, then robot rows; later rows (and newer ids) win.
        statement = select(AlertThreshold).where(scope).order_by(
            AlertThreshold.robot_id.is_not(None), AlertThreshold.id)
        result: dict[str, Threshold] = {}
        for row in self.session.scalars(statement):
            result[row.metric_type] = Threshold(
                warning=row.warning_threshold, critical=row.critical_threshold,
                enabled=row.enabled is not False,
                low_is_bad=row.metric_type in LOW_IS_BAD_METRICS, robot_id=row.robot_id)
        return result

    def set(self, metric_type: str, warning: float, critical: float, *,
            robot_id: str | None = None, enabled: bool = True) -> Threshold:
        """Create or replace the threshold of one metric, for one robot or globally."""
        require_text(metric_type, 50, "metric_type")
        low_is_bad = metric_type in LOW_IS_BAD_METRICS
        if low_is_bad and critical > warning:
            raise InvalidRecord(f"{metric_type}: critical ({critical}) above warning "
                                f"({warning}), but low values are the bad ones")
        if not low_is_bad and critical < warning:
            raise InvalidRecord(f"{metric_type}: critical ({critical}) below warning "
                                f"({warning}), but high values are the bad ones")
        if robot_id is not None and self.session.scalar(
                select(Robot.id).where(Robot.robot_id == robot_id)) is None:
            raise UnknownRobot(f"robot {robot_id!r} is not registered")
        owner = (AlertThreshold.robot_id.is_(None) if robot_id is None
                 else AlertThreshold.robot_id == robot_id)
        rows = list(self.session.scalars(select(AlertThreshold).where(
            owner, AlertThreshold.metric_type == metric_type).order_by(AlertThreshold.id)))
        row = rows[-1] if rows else AlertThreshold(robot_id=robot_id, metric_type=metric_type)
        for duplicate in rows[:-1]:  # older duplicates would only confuse effective()
            self.session.delete(duplicate)
        row.warning_threshold = float(warning)
        row.critical_threshold = float(critical)
        row.enabled = enabled
        self.session.add(row)
        self.session.flush()
        return Threshold(warning=row.warning_threshold, critical=row.critical_threshold,
                         enabled=enabled, low_is_bad=low_is_bad, robot_id=robot_id)
