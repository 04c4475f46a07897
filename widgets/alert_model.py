"""Table model of alerts: one row per alert, newest first, updated in place by id.

Rows arrive from two places that race each other: MQTT announcements and database
reloads (at start and after a reconnect).  A reload can be older than an announcement
that overtook it, so `upsert` merges monotonically: an alert once acknowledged or
resolved never goes back, and severity only escalates (the rules never de-escalate).
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import IntEnum
from functools import cache
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPointF,
    QRectF,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPixmap, QPolygonF

from services.vocabulary import SEVERITIES_WORST_FIRST, SEVERITY_RANK
from widgets.palette import FIRST_OWN_ROLE, ID_ROLE, SEVERITY_COLOURS, SORT_ROLE, STALE_COLOUR

logger = logging.getLogger(__name__)

STATES = ("active-unacknowledged", "active-acknowledged", "cleared-unacknowledged",
          "cleared-acknowledged")
STATE_TEXT = {
    "active-unacknowledged": "Active, unacknowledged",
    "active-acknowledged": "Active, acknowledged",
    "cleared-unacknowledged": "Cleared, unacknowledged",
    "cleared-acknowledged": "Cleared, acknowledged",
}
ICON_SIZE_PX = 14
CRITICAL_ROW_TINT_ALPHA = 40  # of 255: visible in light and dark palettes, text still reads
MISSING_TEXT = "–"
ACKNOWLEDGE_TEXT = "Acknowledge"

ALERT_ID_ROLE = ID_ROLE
SEVERITY_ROLE = FIRST_OWN_ROLE
STATE_ROLE = FIRST_OWN_ROLE + 1
ROBOT_ROLE = FIRST_OWN_ROLE + 2
CREATED_ROLE = FIRST_OWN_ROLE + 3  # epoch seconds, for the time filter
ROW_ROLE = FIRST_OWN_ROLE + 4  # the AlertRow itself

# Units by alert source, for "value / threshold" (the wire format's units).
SOURCE_UNITS = {"cpu": "%", "memory": "%", "disk": "%", "battery": "%",
                "cpu_temperature": "°C"}


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One alert as plain values; times are aware UTC datetimes."""

    id: int
    robot_id: str | None
    alert_type: str
    source: str | None
    severity: str
    title: str
    message: str
    value: float | None
    threshold: float | None
    created_at: datetime | None
    acknowledged: bool = False
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved: bool = False
    resolved_at: datetime | None = None

    @property
    def state(self) -> str:
        return (("cleared" if self.resolved else "active") + "-"
                + ("acknowledged" if self.acknowledged else "unacknowledged"))


class Column(IntEnum):
    SEVERITY = 0
    ROBOT = 1
    TYPE = 2
    SOURCE = 3
    VALUE = 4
    RAISED = 5
    STATE = 6
    ACKNOWLEDGED = 7
    ACTION = 8  # the per-row "Acknowledge" button, painted by the view's delegate


HEADERS = {
    Column.SEVERITY: "Severity", Column.ROBOT: "Robot", Column.TYPE: "Type",
    Column.SOURCE: "Source", Column.VALUE: "Value / threshold", Column.RAISED: "Raised",
    Column.STATE: "State", Column.ACKNOWLEDGED: "Acknowledged by / at", Column.ACTION: "",
}


def merge_rows(old: AlertRow, new: AlertRow) -> AlertRow:
    """The newer knowledge of one alert, whatever order the two copies arrived in."""
    merged = new
    if old.acknowledged and not new.acknowledged:
        merged = replace(merged, acknowledged=True, acknowledged_by=old.acknowledged_by,
                         acknowledged_at=old.acknowledged_at)
    if old.resolved and not new.resolved:
        merged = replace(merged, resolved=True, resolved_at=old.resolved_at)
    if SEVERITY_RANK.get(old.severity, 0) > SEVERITY_RANK.get(new.severity, 0):
        merged = replace(merged, severity=old.severity, value=old.value,
                         threshold=old.threshold)
    return merged


def format_number(value: float) -> str:
    """75.0 -> '75', 76.25 -> '76.2': thresholds are usually round, values are not."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def format_value(row: AlertRow) -> str:
    if row.value is None and row.threshold is None:
        return MISSING_TEXT
    value = MISSING_TEXT if row.value is None else f"{row.value:.1f}"
    threshold = MISSING_TEXT if row.threshold is None else format_number(row.threshold)
    unit = "°C" if (row.source or "").startswith("servo_") else SOURCE_UNITS.get(
        row.source or "", "")
    return f"{value} / {threshold}" + (f" {unit}" if unit else "")


def format_time(at: datetime | None, now: datetime | None = None) -> str:
    """Local wall clock with its zone: '10:15:03 CET' today, 'Nov 21 10:15 CET' before
    (an operator comparing with a robot's or a server's log must know which clock);
    UTC is in the tooltip."""
    if at is None:
        return MISSING_TEXT
    local = at.astimezone()
    today = (now or datetime.now(UTC)).astimezone().date()
    return local.strftime("%H:%M:%S %Z" if local.date() == today else "%b %d %H:%M %Z")


def format_acknowledged(row: AlertRow) -> str:
    if not row.acknowledged:
        return MISSING_TEXT
    return f"{row.acknowledged_by or 'someone'} at {format_time(row.acknowledged_at)}"


@cache
def severity_icon(severity: str, size: int = ICON_SIZE_PX) -> QIcon:
    """Critical: a red disc; warning: an amber triangle; both with an '!' (cached)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    color = QColor(SEVERITY_COLOURS.get(severity, STALE_COLOUR))
    painter.setPen(color.darker(130))
    painter.setBrush(color)
    if severity == "warning":
        painter.drawPolygon(QPolygonF([QPointF(size / 2, 0.5), QPointF(size - 0.5, size - 0.5),
                                       QPointF(0.5, size - 0.5)]))
        mark, top = QColor("#1b1b1b"), size * 0.3
    else:
        painter.drawEllipse(QRectF(0.5, 0.5, size - 1.0, size - 1.0))
        mark, top = QColor("#ffffff"), size * 0.2
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(mark)
    bar = max(size * 0.14, 1.5)
    painter.drawRect(QRectF(size / 2 - bar / 2, top, bar, size * 0.42))
    painter.drawRect(QRectF(size / 2 - bar / 2, size * 0.74, bar, bar))
    painter.end()
    return QIcon(pixmap)


def _order_key(row: AlertRow) -> tuple[float, int]:
    """Ascending key for newest-first order (then the higher id first)."""
    created = row.created_at.timestamp() if row.created_at else 0.0
    return (-created, -row.id)


class AlertTableModel(QAbstractTableModel):
    """Alerts newest first; `upsert` never resets, so selection and scroll survive."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[AlertRow] = []
        self._keys: list[tuple[float, int]] = []  # _order_key of each row, ascending
        self._row_of: dict[int, int] = {}

    # -- data in ---------------------------------------------------------------------
    def upsert(self, rows: Iterable[AlertRow]) -> list[AlertRow]:
        """Update rows in place by id or insert them; returns the rows that were new."""
        inserted: list[AlertRow] = []
        for row in rows:
            position = self._row_of.get(row.id)
            if position is None:
                self._insert(row)
                inserted.append(row)
                continue
            old = self._rows[position]
            merged = merge_rows(old, row)
            if merged == old:
                continue
            if _order_key(merged) != self._keys[position]:
                # created_at changed (it should not); keep the order right anyway.
                self._remove(position)
                self._insert(merged)
                continue
            self._rows[position] = merged
            self.dataChanged.emit(self.index(position, 0),
                                  self.index(position, len(Column) - 1))
        return inserted

    def _insert(self, row: AlertRow) -> None:
        key = _order_key(row)
        position = bisect_left(self._keys, key)
        self.beginInsertRows(QModelIndex(), position, position)
        self._rows.insert(position, row)
        self._keys.insert(position, key)
        self._reindex(position)
        self.endInsertRows()

    def _remove(self, position: int) -> None:
        self.beginRemoveRows(QModelIndex(), position, position)
        del self._rows[position]
        del self._keys[position]
        self._row_of = {r.id: i for i, r in enumerate(self._rows)}
        self.endRemoveRows()

    def _reindex(self, start: int) -> None:
        for i in range(start, len(self._rows)):
            self._row_of[self._rows[i].id] = i

    # -- data out --------------------------------------------------------------------
    def alert(self, alert_id: int) -> AlertRow | None:
        position = self._row_of.get(alert_id)
        return None if position is None else self._rows[position]

    def alert_at(self, row: int) -> AlertRow:
        return self._rows[row]

    def row_of(self, alert_id: int) -> int | None:
        return self._row_of.get(alert_id)

    def alerts(self) -> list[AlertRow]:
        return list(self._rows)

    def robots(self) -> list[str]:
        return sorted({r.robot_id for r in self._rows if r.robot_id})

    def counts_unacknowledged(self) -> dict[str, int]:
        """{severity: n} of alerts nobody acknowledged yet, cleared ones included: a
        condition that came and went unseen still needs a person to look at it."""
        counts = Counter(r.severity for r in self._rows if not r.acknowledged)
        return {severity: counts.get(severity, 0) for severity in SEVERITIES_WORST_FIRST} | {
            s: n for s, n in counts.items() if s not in SEVERITIES_WORST_FIRST}

    def open_count(self) -> int:
        """Alerts whose condition has not cleared (or been resolved by hand)."""
        return sum(1 for r in self._rows if not r.resolved)

    def unacknowledged_by_robot(self) -> dict[str, int]:
        return dict(Counter(r.robot_id for r in self._rows if not r.acknowledged and r.robot_id))

    # -- QAbstractTableModel ---------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Column(section)]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(row, column)
        if role == Qt.ItemDataRole.DecorationRole and column == Column.SEVERITY:
            return severity_icon(row.severity)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(row)
        if role == Qt.ItemDataRole.FontRole and not row.acknowledged:
            bold = QFont()
            bold.setBold(True)  # what still needs a person stands out
            return bold
        if role == Qt.ItemDataRole.BackgroundRole and row.state == "active-unacknowledged":
            tint = QColor(SEVERITY_COLOURS.get(row.severity, STALE_COLOUR))
            tint.setAlpha(CRITICAL_ROW_TINT_ALPHA if row.severity == "critical"
                          else CRITICAL_ROW_TINT_ALPHA // 2)
            return QBrush(tint)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == Column.VALUE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return _user_data(row, column, role)

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


def _display(row: AlertRow, column: Column) -> str:
    if column == Column.SEVERITY:
        return row.severity.capitalize()
    if column == Column.ROBOT:
        return row.robot_id or MISSING_TEXT
    if column == Column.TYPE:
        return row.alert_type
    if column == Column.SOURCE:
        return row.source or MISSING_TEXT
    if column == Column.VALUE:
        return format_value(row)
    if column == Column.RAISED:
        return format_time(row.created_at)
    if column == Column.STATE:
        return STATE_TEXT[row.state]
    if column == Column.ACKNOWLEDGED:
        return format_acknowledged(row)
    return "" if row.acknowledged else ACKNOWLEDGE_TEXT


def _user_data(row: AlertRow, column: Column, role: int) -> Any:
    if role == ALERT_ID_ROLE:
        return row.id
    if role == SEVERITY_ROLE:
        return row.severity
    if role == STATE_ROLE:
        return row.state
    if role == ROBOT_ROLE:
        return row.robot_id
    if role == CREATED_ROLE:
        return row.created_at.timestamp() if row.created_at else None
    if role == ROW_ROLE:
        return row
    if role == SORT_ROLE:
        return _sort_value(row, column)
    return None


def _sort_value(row: AlertRow, column: Column) -> Any:
    if column == Column.SEVERITY:
        return SEVERITY_RANK.get(row.severity, 0)
    if column == Column.VALUE:
        return row.value
    if column == Column.RAISED:
        return row.created_at.timestamp() if row.created_at else None
    if column == Column.STATE:
        return STATES.index(row.state)
    if column == Column.ACKNOWLEDGED:
        return row.acknowledged_at.timestamp() if row.acknowledged_at else None
    if column == Column.ACTION:
        return int(row.acknowledged)
    return _display(row, column).lower()


def _tooltip(row: AlertRow) -> str:
    lines = [f"#{row.id} {row.title}", row.message]
    if row.created_at:
        lines.append(f"raised {row.created_at.astimezone(UTC).isoformat(timespec='seconds')}")
    if row.acknowledged_at:
        lines.append(f"acknowledged by {row.acknowledged_by} "
                     f"{row.acknowledged_at.astimezone(UTC).isoformat(timespec='seconds')}")
    if row.resolved_at:
        lines.append(f"cleared {row.resolved_at.astimezone(UTC).isoformat(timespec='seconds')}")
    return "\n".join(line for line in lines if line)
