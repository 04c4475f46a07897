"""Robot ids are data: SQL-looking ids are stored and matched verbatim."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect

from services.records.repositories import (
    JobRepository,
    LogRepository,
    RobotRepository,
    ThresholdRepository,
)
from services.wire.model import JobUpdate

T0 = datetime(2026, 1, 21, 7, 0, tzinfo=UTC)
HOSTILE = [
    "x'); drop table robots;--",
    'x") |> drop(',
    "robot%_*\\'\"",
    "ロボット_01",
]


@pytest.mark.parametrize("robot_id", HOSTILE)
def test_hostile_robot_ids_are_stored_verbatim(db, robot_id):
    with db.session() as session:
        assert RobotRepository(session).touch("neighbour", T0) is True
        assert RobotRepository(session).touch(robot_id, T0) is True
        JobRepository(session).apply(robot_id, JobUpdate(status="active", started=True,
                                                         job_key=robot_id), T0)
        LogRepository(session).add("ERROR", "mqtt", robot_id, robot_id=robot_id,
                                   details={"raw": robot_id})
        ThresholdRepository(session).set("cpu", 50, 60, robot_id=robot_id)
    with db.session() as session:
        robot = RobotRepository(session).get(robot_id)
        assert robot.robot_id == robot.name == robot_id
        assert [job.job_key for job in JobRepository(session).list(robot_id=robot_id)] == [
            robot_id]
        (log,) = LogRepository(session).list(robot_id=robot_id)
        assert log.message == robot_id and log.details == {"raw": robot_id}
        assert ThresholdRepository(session).effective(robot_id)["cpu"].warning == 50
        assert ThresholdRepository(session).effective("neighbour")["cpu"].warning == 70
        assert len(RobotRepository(session).list()) == 2
    assert "robots" in inspect(db.engine).get_table_names()
