"""The catalogue of recorded reports: rows of the `reports` table as plain data, newest
first, for the console's Reports page (which reads it on a worker thread).

    rows = ReportCatalog(database).list(limit=500)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from services.records.db import Database
from services.records.models import Report

logger = logging.getLogger(__name__)

LIST_LIMIT = 500


@dataclass(frozen=True, slots=True)
class ReportRow:
    id: int
    created_at: datetime | None
    title: str
    kind: str
    robots: tuple[str, ...]
    start: datetime | None
    stop: datetime | None
    author: str
    file_path: str


def _parse_time(text: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def report_row(report: Report) -> ReportRow:
    # `data` is what the generator recorded; an old or hand-made row may lack any of it.
    data = report.data if isinstance(report.data, dict) else {}
    robots = data.get("robots") or ([report.robot_id] if report.robot_id else [])
    return ReportRow(
        id=report.id, created_at=report.created_at, title=report.title,
        kind=report.report_type, robots=tuple(robots),
        start=_parse_time(data.get("start")) if data.get("start") else None,
        stop=_parse_time(data.get("stop")) if data.get("stop") else None,
        author=report.created_by or "", file_path=report.file_path or "")


class ReportCatalog:
    def __init__(self, database: Database) -> None:
        self._db = database

    def list(self, limit: int = LIST_LIMIT) -> list[ReportRow]:
        """Recorded reports, newest first."""
        with self._db.session() as session:
            reports = session.scalars(select(Report).order_by(
                Report.created_at.desc(), Report.id.desc()).limit(limit)).all()
            return [report_row(report) for report in reports]

    def get(self, report_id: int) -> ReportRow | None:
        with self._db.session() as session:
            report = session.get(Report, report_id)
            return None if report is None else report_row(report)
