"""The list of recorded reports: the catalogue's rows (services.reports.catalog) and their
table model."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt

from services.reports.catalog import LIST_LIMIT, ReportCatalog, ReportRow

COLUMNS = ("Created", "Title", "Type", "Robots", "Range", "Author", "File")


def load_reports(database, limit: int = LIST_LIMIT) -> list[ReportRow]:
    """Recorded reports, newest first; runs on a worker thread."""
    return ReportCatalog(database).list(limit)


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
