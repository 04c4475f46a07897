"""Jobs as a table: robot, task, status, a progress bar, timings and outcome.

Rows are plain frozen values (JobRow) built by the app from the records database; the
model never touches a database.  set_rows() updates rows in place by job id so the
selection and scroll position survive the 2-second refresh.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from widgets.palette import FIRST_OWN_ROLE, ID_ROLE
from widgets.row_table_model import RowTableModel

logger = logging.getLogger(__name__)

PROGRESS_ROLE = FIRST_OWN_ROLE  # (done, total, percent) for the delegate
STATUS_COLORS = {"active": "#2f86d1", "completed": "#2ca02c", "failed": "#d62728",
                 "cancelled": "#7f7f7f"}
BAR_MARGIN_PX = 3
# See-through, so the bar takes the palette's tone and its text stays readable on it in
# light and dark themes alike.
BAR_FILL = QColor(90, 169, 230, 170)


class Column(IntEnum):
    ROBOT = 0
    TASK = 1
    STATUS = 2
    PROGRESS = 3
    ELAPSED = 4
    REMAINING = 5
    STARTED = 6
    ENDED = 7
    OUTCOME = 8


HEADERS = ("Robot", "Task", "Status", "Progress", "Elapsed", "Est. remaining", "Started",
           "Ended", "Outcome")


@dataclass(frozen=True, slots=True)
class JobRow:
    id: int
    robot_id: str
    task_name: str | None
    status: str
    start_time: datetime
    end_time: datetime | None = None
    items_total: int | None = None
    items_done: int | None = None
    percent_complete: float | None = None
    last_item: Any = None
    reason: str | None = None

    def elapsed(self, now: datetime) -> timedelta:
        end = self.end_time or now
        return max(end - self.start_time, timedelta(0))

    def percent(self) -> float | None:
        """Percent done from items when known, else the robot's own figure."""
        if self.items_total and self.items_done is not None:
            return 100.0 * min(self.items_done, self.items_total) / self.items_total
        return self.percent_complete

    def remaining(self, now: datetime) -> timedelta | None:
        """elapsed * (total - done) / done; None until an item is done or once ended."""
        if self.status != "active" or not self.items_total or not self.items_done:
            return None
        left = max(self.items_total - self.items_done, 0)
        return self.elapsed(now) * left / self.items_done


def format_duration(value: timedelta | None) -> str:
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def format_time(value: datetime | None, now: datetime | None = None) -> str:
    """Short local time ('10:15:03' today, 'Nov 21 10:15' before): the zone is in the
    column header (zone_name) and the whole date and zone in the tooltip, so the table
    keeps room for the robot and the outcome."""
    if value is None:
        return ""
    local = value.astimezone()
    today = (now or datetime.now(UTC)).astimezone().date()
    return local.strftime("%H:%M:%S" if local.date() == today else "%b %d %H:%M")


def full_time(value: datetime | None) -> str:
    """'2026-11-21 10:15:03 CET (09:15:03 UTC)', for tooltips and the details pane."""
    if value is None:
        return ""
    local = value.astimezone()
    text = local.strftime("%Y-%m-%d %H:%M:%S %Z")
    if local.utcoffset():
        text += value.astimezone(UTC).strftime(" (%H:%M:%S UTC)")
    return text


def zone_name() -> str:
    return datetime.now(UTC).astimezone().strftime("%Z")


def outcome_text(row: JobRow) -> str:
    if row.status == "active":
        return ""
    return row.status + (f": {row.reason}" if row.reason else "")


def progress_text(row: JobRow) -> str:
    percent = row.percent()
    items = (f"{row.items_done or 0}/{row.items_total}" if row.items_total else "")
    share = "" if percent is None else f"{percent:.0f}%"
    return "  ".join(part for part in (items, share) if part)


class JobTableModel(RowTableModel[JobRow]):
    headers = HEADERS

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._now = datetime.now(UTC)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        text = super().headerData(section, orientation, role)
        if text and section in (Column.STARTED, Column.ENDED):
            return f"{text} ({zone_name()})"  # which clock the short times are on
        return text

    def row_of(self, job_id: int) -> int | None:
        for position, row in enumerate(self._rows):
            if row.id == job_id:
                return position
        return None

    def set_rows(self, rows: list[JobRow], now: datetime | None = None) -> None:
        """Show `rows` in their order; rows kept by id are updated in place."""
        self._now = now or datetime.now(UTC)
        wanted = {row.id for row in rows}
        for position in range(len(self._rows) - 1, -1, -1):
            if self._rows[position].id not in wanted:
                self.beginRemoveRows(QModelIndex(), position, position)
                del self._rows[position]
                self.endRemoveRows()
        for target, row in enumerate(rows):
            current = self.row_of(row.id)
            if current is None:
                self.beginInsertRows(QModelIndex(), target, target)
                self._rows.insert(target, row)
                self.endInsertRows()
                continue
            if current != target:
                self.beginMoveRows(QModelIndex(), current, current, QModelIndex(), target)
                self._rows.insert(target, self._rows.pop(current))
                self.endMoveRows()
            self._rows[target] = row
        if self._rows:
            # Elapsed and remaining change every refresh even when the row does not.
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(self._rows) - 1, len(HEADERS) - 1))

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == PROGRESS_ROLE and column == Column.PROGRESS:
            return (row.items_done, row.items_total, row.percent())
        if role == Qt.ItemDataRole.ForegroundRole and column == Column.STATUS:
            return QColor(STATUS_COLORS.get(row.status, "#000000"))
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        if role == ID_ROLE:
            return row.id
        return None

    def _text(self, row: JobRow, column: Column) -> str:
        if column == Column.ROBOT:
            return row.robot_id
        if column == Column.TASK:
            return row.task_name or ""
        if column == Column.STATUS:
            return row.status
        if column == Column.PROGRESS:
            return progress_text(row)
        if column == Column.ELAPSED:
            return format_duration(row.elapsed(self._now))
        if column == Column.REMAINING:
            return format_duration(row.remaining(self._now))
        if column == Column.STARTED:
            return format_time(row.start_time, self._now)
        if column == Column.ENDED:
            return format_time(row.end_time, self._now)
        return outcome_text(row)

    @staticmethod
    def _tooltip(row: JobRow, column: Column) -> str | None:
        """The whole text of the cells a narrow column elides."""
        if column == Column.OUTCOME:
            return row.reason or outcome_text(row) or None
        if column == Column.ROBOT:
            return row.robot_id
        if column == Column.TASK:
            return row.task_name or None
        if column in (Column.STARTED, Column.ENDED):
            return full_time(row.start_time if column == Column.STARTED else row.end_time) or None
        return None


class ProgressDelegate(QStyledItemDelegate):
    """Paints the Progress column as a bar with 'done/total  percent' on it."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        value = index.data(PROGRESS_ROLE)
        if value is None:
            super().paint(painter, option, index)
            return
        percent = value[2]
        painter.save()
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        bar = option.rect.adjusted(BAR_MARGIN_PX, BAR_MARGIN_PX, -BAR_MARGIN_PX,
                                   -BAR_MARGIN_PX)
        palette = option.palette
        painter.setPen(palette.mid().color())
        painter.setBrush(palette.alternateBase())
        painter.drawRect(bar)
        if percent:
            share = max(0.0, min(percent, 100.0)) / 100.0
            filled = QRect(bar.left(), bar.top(), int(bar.width() * share), bar.height())
            painter.fillRect(filled.adjusted(1, 1, 0, 0), BAR_FILL)
        painter.setPen(palette.text().color())
        painter.drawText(bar, Qt.AlignmentFlag.AlignCenter, index.data() or "")
        painter.restore()
