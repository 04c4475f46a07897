from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from services.records.errors import InvalidRecord, UnknownRobot
from services.records.jobs import SUPERSEDED_REASON
from services.records.repositories import JobRepository, RobotRepository
from services.wire.model import JobUpdate

T0 = datetime(2026, 1, 21, 7, 0, tzinfo=UTC)
ROBOT = "tonypi_raspberrypi"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def robot(db) -> str:
    with db.session() as session:
        RobotRepository(session).touch(ROBOT, T0)
    return ROBOT


def apply(db, update: JobUpdate, when: datetime, robot_id: str = ROBOT):
    with db.session() as session:
        return JobRepository(session).apply(robot_id, update, when)


def jobs(db, robot_id: str = ROBOT, **filters):
    with db.session() as session:
        return JobRepository(session).list(robot_id=robot_id, **filters)


def test_progress_shape_active_then_completed(db, robot):
    key = at(0).isoformat()  # the legacy progress shape is identified by its start time
    first = apply(db, JobUpdate(status="active", job_key=key, start_time=at(0),
                                items_total=10, items_done=3, percent_complete=30.0,
                                last_item={"qr": "A-3"}), at(30))
    apply(db, JobUpdate(status="active", job_key=key, start_time=at(0), items_total=10,
                        items_done=7, percent_complete=70.0, last_item={"qr": "A-7"}), at(70))
    with db.session() as session:
        active = JobRepository(session).active(ROBOT)
    assert active.id == first.id and active.items_done == 7
    assert active.last_item == {"qr": "A-7"}

    done = apply(db, JobUpdate(status="completed", job_key=key, start_time=at(0),
                               end_time=at(95), items_total=10, items_done=10,
                               percent_complete=100.0), at(96))
    (job,) = jobs(db)
    assert job.id == done.id == first.id
    assert (job.status, job.start_time, job.end_time) == ("completed", at(0), at(95))
    assert (job.items_done, job.items_total, job.percent_complete) == (10, 10, 100.0)
    assert job.start_time.tzinfo is UTC and job.end_time.tzinfo is UTC
    with db.session() as session:
        assert JobRepository(session).active(ROBOT) is None

    # The legacy client keeps repeating its last progress message: no new job from it.
    apply(db, JobUpdate(status="completed", job_key=key, items_done=10), at(100))
    assert len(jobs(db)) == 1


def test_event_shape_started_in_progress_completed(db, robot):
    apply(db, JobUpdate(status="active", started=True, task_name="pick_and_place"), at(0))
    apply(db, JobUpdate(status="active", task_name="pick_and_place", items_done=2,
                        items_total=5, percent_complete=40.0), at(10))
    apply(db, JobUpdate(status="completed", task_name="pick_and_place", items_done=5,
                        items_total=5, percent_complete=100.0), at(25))
    (job,) = jobs(db)
    assert job.task_name == "pick_and_place"
    assert (job.status, job.start_time, job.end_time) == ("completed", at(0), at(25))
    assert (job.items_done, job.items_total, job.percent_complete) == (5, 5, 100.0)
    assert job.job_key is None and job.reason is None


def test_a_new_start_supersedes_the_running_job(db, robot):
    old = apply(db, JobUpdate(status="active", started=True, task_name="patrol"), at(0))
    new = apply(db, JobUpdate(status="active", started=True, task_name="inventory"), at(60))
    assert new.id != old.id
    listed = jobs(db)
    assert [job.id for job in listed] == [new.id, old.id]  # newest first
    superseded = listed[1]
    assert (superseded.status, superseded.reason) == ("failed", SUPERSEDED_REASON)
    assert superseded.end_time == at(60)
    assert (listed[0].status, listed[0].task_name, listed[0].start_time) == (
        "active", "inventory", at(60))


def test_a_different_job_key_supersedes_the_running_job(db, robot):
    apply(db, JobUpdate(status="active", job_key="job-1", items_done=1), at(0))
    apply(db, JobUpdate(status="active", job_key="job-2", items_done=1), at(5))
    newest, oldest = jobs(db)
    assert (newest.job_key, newest.status) == ("job-2", "active")
    assert (oldest.job_key, oldest.status, oldest.reason) == ("job-1", "failed",
                                                              SUPERSEDED_REASON)
    # A repeated "started" of the running job is the same job, not a new one.
    apply(db, JobUpdate(status="active", started=True, job_key="job-2"), at(6))
    assert len(jobs(db)) == 2
    # A late message about the closed job-1 neither reopens it nor stops job-2.
    late = apply(db, JobUpdate(status="completed", job_key="job-1", items_done=9), at(7))
    assert late.id == oldest.id
    newest, oldest = jobs(db)
    assert (newest.job_key, newest.status, oldest.status) == ("job-2", "active", "failed")
    assert oldest.items_done == 1


def test_terminal_update_without_active_job_is_kept(db, robot):
    job = apply(db, JobUpdate(status="failed", task_name="climb", reason="servo overheat",
                              start_time=at(-40)), at(0))
    (stored,) = jobs(db)
    assert stored.id == job.id
    assert (stored.status, stored.reason, stored.task_name) == ("failed", "servo overheat",
                                                                "climb")
    assert (stored.start_time, stored.end_time) == (at(-40), at(0))
    cancelled = apply(db, JobUpdate(status="cancelled"), at(10))
    assert (cancelled.start_time, cancelled.end_time) == (at(10), at(10))
    assert [job.status for job in jobs(db, status="cancelled")] == ["cancelled"]


def test_list_filters_and_limit(db, robot):
    with db.session() as session:
        RobotRepository(session).touch("other", T0)
    for index in range(5):
        apply(db, JobUpdate(status="completed", job_key=f"k{index}",
                            start_time=at(index * 10)), at(index * 10 + 5))
    apply(db, JobUpdate(status="active", started=True), at(100), robot_id="other")
    with db.session() as session:
        repo = JobRepository(session)
        assert [job.job_key for job in repo.list(limit=3)] == [None, "k4", "k3"]
        assert len(repo.list(robot_id=ROBOT)) == 5
        assert [job.robot_id for job in repo.list(status="active")] == ["other"]
        assert repo.active("other") is not None and repo.active(ROBOT) is None


def test_bad_job_input_is_a_typed_error(db, robot):
    with db.session() as session:
        repo = JobRepository(session)
        with pytest.raises(InvalidRecord):
            repo.apply(ROBOT, JobUpdate(status="working"), at(0))
        with pytest.raises(InvalidRecord):
            repo.apply(ROBOT, JobUpdate(status="active"), datetime(2026, 1, 21))
        with pytest.raises(InvalidRecord):
            repo.apply(ROBOT, JobUpdate(status="active", job_key="k" * 101), at(0))
        with pytest.raises(UnknownRobot):
            repo.apply("never_seen", JobUpdate(status="active", started=True), at(0))
        assert repo.list() == []


def test_jobs_reference_registered_robots(db):
    """The foreign key holds on both backends (SQLite enforces it only when enabled)."""
    with pytest.raises(IntegrityError), db.session() as session:
        session.execute(text("INSERT INTO jobs (robot_id, start_time) "
                             "VALUES ('ghost', CURRENT_TIMESTAMP)"))
