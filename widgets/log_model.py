"""system_logs entries as a table, newest first, bounded so a chatty fleet cannot eat
the console's memory.  Rows are plain values; the app reads the database."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor

from widgets.palette import ID_ROLE
from widgets.row_table_model import RowTableModel

logger = logging.getLogger(__name__)

MAX_LOG_ROWS = 5000
LEVEL_COLORS = {"DEBUG": "#7f7f7f", "INFO": "#1b1f23", "WARNING": "#b36b00",
                "ERROR": "#d62728", "CRITICAL": "#9b0000"}
def _local_zone() -> str:
    """The zone log times are shown in, for the header: a bare time is ambiguous."""
    return datetime.now(UTC).astimezone().tzname() or "local time"


HEADERS = (f"Time ({_local_zone()})", "Level", "Category", "Robot", "Message")


class Column(IntEnum):
    TIME = 0
    LEVEL = 1
    CATEGORY = 2
    ROBOT = 3
    MESSAGE = 4


@dataclass(frozen=True, slots=True)
class LogRow:
    id: int
    timestamp: datetime
    level: str
    category: str
    message: str
    robot_id: str | None = None
    details: Any = None

    def as_dict(self) -> dict[str, Any]:
        """The row in the export formats (ISO-8601 UTC time, details as JSON value)."""
        return {"id": self.id, "timestamp": self.timestamp.isoformat(), "level": self.level,
                "category": self.category, "robot_id": self.robot_id or "",
                "message": self.message, "details": self.details}

    def as_line(self) -> str:
        """Tab-separated, as pasted into a ticket or a spreadsheet."""
        details = "" if self.details is None else json.dumps(self.details, default=str)
        return "\t".join((self.timestamp.isoformat(), self.level, self.category,
                          self.robot_id or "", self.message, details)).rstrip("\t")


class LogTableModel(RowTableModel[LogRow]):
    headers = HEADERS

    def __init__(self, max_rows: int = MAX_LOG_ROWS, parent=None) -> None:
        super().__init__(parent)
        self.max_rows = max_rows

    def newest_id(self) -> int | None:
        return self._rows[0].id if self._rows else None

    def clear(self) -> None:
        self.beginResetModel()
        self._rows = []
        self.endResetModel()

    def append(self, rows: list[LogRow]) -> int:
        """Add entries not shown yet (any order); keep newest first and at most max_rows.
        Returns how many were added."""
        known = {row.id for row in self._rows}
        fresh = sorted({row.id: row for row in rows if row.id not in known}.values(),
                       key=lambda row: (row.timestamp, row.id), reverse=True)
        if not fresh:
            return 0
        merged = sorted([*fresh, *self._rows], key=lambda row: (row.timestamp, row.id),
                        reverse=True)[:self.max_rows]
        if merged[len(fresh):] == self._rows[:len(merged) - len(fresh)] and \
                merged[:len(fresh)] == fresh:
            # The usual case: new entries go on top; insert rather than reset so the
            # operator's selection stays put.
            self.beginInsertRows(QModelIndex(), 0, len(fresh) - 1)
            self._rows[0:0] = fresh
            self.endInsertRows()
            if len(self._rows) > self.max_rows:
                self.beginRemoveRows(QModelIndex(), self.max_rows, len(self._rows) - 1)
                del self._rows[self.max_rows:]
                self.endRemoveRows()
        else:
            self.beginResetModel()
            self._rows = merged
            self.endResetModel()
        return len(fresh)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            if column == Column.TIME:
                return row.timestamp.astimezone().strftime("%Y-%m-%d %H:%M:%S")
            if column == Column.LEVEL:
                return row.level
            if column == Column.CATEGORY:
                return row.category
            if column == Column.ROBOT:
                return row.robot_id or ""
            return row.message
        if role == Qt.ItemDataRole.ForegroundRole and column == Column.LEVEL:
            return QColor(LEVEL_COLORS.get(row.level, "#1b1f23"))
        if role == Qt.ItemDataRole.ToolTipRole and column == Column.MESSAGE and row.details:
            return json.dumps(row.details, indent=2, default=str)
        if role == ID_ROLE:
            return row.id
        return None
