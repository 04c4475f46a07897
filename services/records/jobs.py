"""Jobs: turning the robots' job messages (either legacy shape or ours) into job rows.

One robot runs at most one job at a time; its row has status 'active' until a terminal
message (completed / failed / cancelled) closes it, or a new job supersedes it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.records.errors import InvalidRecord, UnknownRobot
from services.records.models import (
    JOB_KEY_MAX_LEN,
    JOB_STATUSES,
    TASK_NAME_MAX_LEN,
    TERMINAL_JOB_STATUSES,
    Job,
    Robot,
)
from services.records.types import require_aware, require_text
from services.wire.model import JobUpdate

logger = logging.getLogger(__name__)

SUPERSEDED_REASON = "superseded by a new job"
MAX_JOBS_LISTED = 10_000


def _same_key(job: Job, update: JobUpdate) -> bool:
    return job.job_key is not None and job.job_key == update.job_key


def _key_differs(job: Job, update: JobUpdate) -> bool:
    # A message without a key (legacy event shape) belongs to whatever job is running.
    return (job.job_key is not None and update.job_key is not None
            and job.job_key != update.job_key)


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def active(self, robot_id: str) -> Job | None:
        """The robot's running job (the newest, should several ever be active)."""
        statement = (select(Job).where(Job.robot_id == robot_id, Job.status == "active")
                     .order_by(Job.start_time.desc(), Job.id.desc()).limit(1))
        return self.session.scalars(statement).first()

    def list(self, robot_id: str | None = None, status: str | Iterable[str] | None = None,
             limit: int = 100, *, started_since: datetime | None = None,
             started_until: datetime | None = None) -> list[Job]:
        """Jobs newest first (by start time), filtered in SQL by whichever arguments are
        given: one robot, one status or several, start time in [since, until)."""
        statement = select(Job)
        if robot_id is not None:
            statement = statement.where(Job.robot_id == robot_id)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            statement = statement.where(Job.status.in_(statuses))
        if started_since is not None:
            statement = statement.where(
                Job.start_time >= require_aware(started_since, "started_since"))
        if started_until is not None:
            statement = statement.where(
                Job.start_time < require_aware(started_until, "started_until"))
        limit = max(0, min(limit, MAX_JOBS_LISTED))
        statement = statement.order_by(Job.start_time.desc(), Job.id.desc()).limit(limit)
        return list(self.session.scalars(statement))

    def apply(self, robot_id: str, update: JobUpdate, at: datetime) -> Job:
        """Record one job message received at `at`; return the job it concerns.

        A new job starts when the message says so (`started`), when its job_key differs
        from the running job's, or when nothing runs; a job still running then is closed
        as failed ("superseded by a new job").  A terminal message with nothing running
        is kept as a closed job, so nothing is lost.
        """
        at = require_aware(at, "at")
        if update.status not in JOB_STATUSES:
            raise InvalidRecord(f"unknown job status {update.status!r}; "
                                f"expected one of {', '.join(JOB_STATUSES)}")
        if update.job_key is not None:
            require_text(update.job_key, JOB_KEY_MAX_LEN, "job_key")
        job = self.active(robot_id)
        if not update.started and not (job is not None and _same_key(job, update)):
            finished = self._finished(robot_id, update.job_key)
            if finished is not None:
                # A late or repeated message about a job already closed: it neither
                # reopens that job nor supersedes the one running now.
                logger.debug("job message for closed job %s of robot %r ignored",
                             finished.id, robot_id)
                return finished
        if job is not None and ((update.started and not _same_key(job, update))
                                or _key_differs(job, update)):
            logger.info("job %s of robot %r superseded", job.id, robot_id)
            self._close(job, "failed", at, SUPERSEDED_REASON)
            job = None
        if job is None:
            job = self._open(robot_id, update, at)
        self._apply_fields(job, update)
        if update.status in TERMINAL_JOB_STATUSES:
            end = require_aware(update.end_time, "end_time") if update.end_time else at
            self._close(job, update.status, end, update.reason)
        self.session.flush()
        return job

    def _open(self, robot_id: str, update: JobUpdate, at: datetime) -> Job:
        if self.session.scalar(select(Robot.id).where(Robot.robot_id == robot_id)) is None:
            raise UnknownRobot(f"robot {robot_id!r} is not registered; touch() it first")
        start = require_aware(update.start_time, "start_time") if update.start_time else at
        job = Job(robot_id=robot_id, start_time=start, status="active")
        self.session.add(job)
        return job

    def _finished(self, robot_id: str, job_key: str | None) -> Job | None:
        if job_key is None:
            return None
        statement = (select(Job).where(Job.robot_id == robot_id, Job.job_key == job_key,
                                       Job.status != "active")
                     .order_by(Job.id.desc()).limit(1))
        return self.session.scalars(statement).first()

    @staticmethod
    def _apply_fields(job: Job, update: JobUpdate) -> None:
        for name in ("items_total", "items_done", "percent_complete", "last_item",
                     "task_name", "job_key"):
            value = getattr(update, name)
            if name == "task_name" and value is not None and len(value) > TASK_NAME_MAX_LEN:
                # A display label: keep what fits rather than refuse the whole update.
                logger.warning("task name of a job of robot %r cut to %d characters",
                               job.robot_id, TASK_NAME_MAX_LEN)
                value = value[:TASK_NAME_MAX_LEN]
            if value is not None:
                setattr(job, name, value)

    @staticmethod
    def _close(job: Job, status: str, end_time: datetime, reason: str | None) -> None:
        job.status = status
        job.end_time = end_time
        if reason is not None:
            job.reason = reason
