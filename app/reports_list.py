"""The list of recorded reports: rows read from the `reports` table and their table model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt
from sqlalchemy import select

from services.records.models import Report

LIST_LIMIT = 500
COLUMNS = ("Created", "Title", "Type", "Robots", "Range", "Author", "File")


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


def load_reports(database, limit: int = LIST_LIMIT) -> list[ReportRow]:
    """Recorded reports, newest first; runs on a worker thread."""
    with database.session() as session:
        reports = session.scalars(select(Report).order_by(
            Report.created_at.desc(), Report.id.desc()).limit(limit)).all()
        rows = []
        for report in reports:
            data = report.data if isinstance(report.data, dict) else {}
            robots = data.get("robots") or ([report.robot_id] if report.robot_id else [])
            rows.append(ReportRow(
                id=report.id, created_at=report.created_at, title=report.title,
                kind=report.report_type, robots=tuple(robots),
                start=_parse_time(data.get("start")) if data.get("start") else None,
                stop=_parse_time(data.get("stop")) if data.get("stop") else None,
                author=report.created_by or "", file_path=report.file_path or ""))
    return rows


def _local(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment.astimezone():%Y-%m-%d %H:%M}"


class ReportTableModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[ReportRow] = []

    def set_rows(self, rows: list[ReportRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row(self, index: int) -> ReportRow:
        return self._rows[index]

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if (role == Qt.ItemDataRole.DisplayRole
                and orientation == Qt.Orientation.Horizontal):
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.ToolTipRole:  # the full text of cells that get elided
            return {COLUMNS.index("File"): row.file_path, COLUMNS.index("Title"): row.title,
                    COLUMNS.index("Robots"): "\n".join(row.robots)}.get(index.column())
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return (_local(row.created_at), row.title, row.kind, ", ".join(row.robots),
                f"{_local(row.start)} - {_local(row.stop)}", row.author,
                Path(row.file_path).name)[index.column()]
