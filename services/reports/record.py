"""Record a generated report in the `reports` table so the Reports page can list it."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from services.records.db import Database
from services.records.models import Report, Robot

logger = logging.getLogger(__name__)

TITLE_MAX_LEN, TYPE_MAX_LEN, PATH_MAX_LEN, AUTHOR_MAX_LEN = 200, 50, 500, 100


def record_report(database: Database, *, title: str, kind: str, robot_ids: list[str],
                  summary: dict[str, Any], file_path: str, author: str) -> int:
    """Insert the reports row and return its id.

    reports.robot_id is a foreign key to robots, so it holds the robot only when the
    report covers exactly one registered robot; otherwise it is NULL and the robot list
    lives in data["robots"] (a comma list would break the key and its 50-char limit).
    """
    with database.session() as session:
        robot_id = None
        if len(robot_ids) == 1 and session.scalar(
                select(Robot.id).where(Robot.robot_id == robot_ids[0])) is not None:
            robot_id = robot_ids[0]
        row = Report(title=title[:TITLE_MAX_LEN], report_type=kind[:TYPE_MAX_LEN],
                     robot_id=robot_id, data=summary, file_path=file_path[:PATH_MAX_LEN],
                     created_by=author[:AUTHOR_MAX_LEN])
        session.add(row)
        session.flush()
        report_id = row.id
    logger.info("recorded report %d (%s) at %s", report_id, kind, file_path)
    return report_id
