"""Table model of the fleet: one row per robot, refreshed in place many times a second.

`set_snapshots` is called by the GUI-thread refresh timer (20-30 Hz) with the whole fleet.
Each row's cells are rendered once per refresh into (text, sort value) pairs and compared
with the previous rendering, so `dataChanged` fires only for cells an operator would see
change; the view then repaints a handful of cells instead of the table, and selection,
scroll position and sort order survive every refresh (no model reset, ever).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFont, QGuiApplication, QPalette

from services.live.model import Health, JobProgress, RobotSnapshot
from widgets.palette import FIRST_OWN_ROLE, ID_ROLE, SORT_ROLE
from widgets.status_badge import health_icon, level_background

logger = logging.getLogger(__name__)

ROBOT_ID_ROLE = ID_ROLE
HEALTH_ROLE = FIRST_OWN_ROLE  # the row's Health, for badge delegates
MISSING_TEXT = "–"  # en dash: a value the robot has not sent (yet)
SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400


class Column(IntEnum):
    ROBOT = 0
    STATUS = 1
    REASONS = 2
    BATTERY = 3
    CPU = 4
    CPU_TEMP = 5
    HOTTEST_SERVO = 6
    JOB = 7
    ALERTS = 8
    LAST_SEEN = 9


HEADERS: dict[Column, str] = {
    Column.ROBOT: "Robot",
    Column.STATUS: "Status",
    Column.REASONS: "Reasons",
    Column.BATTERY: "Battery %",
    Column.CPU: "CPU %",
    Column.CPU_TEMP: "CPU temp °C",
    Column.HOTTEST_SERVO: "Hottest servo",
    Column.JOB: "Job",
    Column.ALERTS: "Alerts",
    Column.LAST_SEEN: "Last seen",
}
HEADER_TOOLTIPS: dict[Column, str] = {
    Column.STATUS: "Worst of the robot's signals: OK < WARN < ERROR < STALE < OFFLINE",
    Column.REASONS: "Why the robot is not OK, worst first",
    Column.ALERTS: "Unacknowledged alerts, then open (unresolved) ones per the records",
    Column.LAST_SEEN: "Time since the robot's last message",
}
NUMERIC_COLUMNS = frozenset({Column.BATTERY, Column.CPU, Column.CPU_TEMP, Column.ALERTS,
                             Column.LAST_SEEN})
# The metric type (alert_thresholds.metric_type) whose level colours each value column.
COLUMN_METRICS: dict[Column, str] = {
    Column.BATTERY: "battery",
    Column.CPU: "cpu",
    Column.CPU_TEMP: "temperature",
    Column.HOTTEST_SERVO: "servo_temp",
}
REASONS_SEPARATOR = "; "
# Robots nobody is hearing from: their values (if any) are old, so they recede.
SILENT_HEALTH = frozenset({Health.OFFLINE, Health.UNKNOWN})


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    sort: Any  # float | int | str | None
    level: Health = Health.OK  # WARN/ERROR: the value is past its threshold (tinted)


def format_age(seconds: float | None) -> str:
    """'just now', '12 s ago', '3 min ago', '2 h ago', '4 d ago'; 'never' without a time."""
    if seconds is None:
        return "never"
    if seconds < 1:  # also clock skew between robot and console (a future timestamp)
        return "just now"
    if seconds < SECONDS_PER_MINUTE:
        return f"{int(seconds)} s ago"
    if seconds < SECONDS_PER_HOUR:
        return f"{int(seconds // SECONDS_PER_MINUTE)} min ago"
    if seconds < SECONDS_PER_DAY:
        return f"{int(seconds // SECONDS_PER_HOUR)} h ago"
    return f"{int(seconds // SECONDS_PER_DAY)} d ago"


def format_job(job: JobProgress | None) -> str:
    if job is None:
        return ""
    name = job.task_name or "Job"
    if job.status != "active":
        return f"{name} {job.status}"
    parts = [name]
    if job.items_done is not None and job.items_total:
        parts.append(f"{job.items_done}/{job.items_total}")
    percent = job_percent(job)
    if percent is not None:
        parts.append(f"{percent:.0f}%")
    return " ".join(parts)


def job_percent(job: JobProgress | None) -> float | None:
    if job is None:
        return None
    if job.percent is not None:
        return job.percent
    if job.items_done is not None and job.items_total:
        return 100.0 * job.items_done / job.items_total
    return None


def _number(value: float | None, decimals: int) -> Cell:
    # The sort value is the displayed (rounded) number, so the order always agrees with
    # what the operator reads and sub-display jitter does not count as a change.
    if value is None:
        return Cell(MISSING_TEXT, None)
    rounded = round(float(value), decimals)
    return Cell(f"{rounded:.{decimals}f}", rounded)


def _age_seconds(last_seen: datetime | None, now: datetime) -> float | None:
    if last_seen is None:
        return None
    return max((now - last_seen).total_seconds(), 0.0)


def format_alerts(unacknowledged: int, open_alerts: int | None) -> str:
    """'2' unacknowledged; '2 · 5 open' once the records said how many are unresolved."""
    if not open_alerts:
        return str(unacknowledged)
    return f"{unacknowledged} · {open_alerts} open"


def render_row(snapshot: RobotSnapshot, now: datetime) -> tuple[Cell, ...]:
    """Every cell of one row as the operator sees it, in Column order."""
    hottest = snapshot.hottest_servo
    age = _age_seconds(snapshot.last_seen, now)
    percent = job_percent(snapshot.job)
    cells = {
        Column.ROBOT: Cell(snapshot.robot_id, snapshot.robot_id.casefold()),
        Column.STATUS: Cell(snapshot.health.name, int(snapshot.health)),
        Column.REASONS: Cell(REASONS_SEPARATOR.join(snapshot.reasons),
                             REASONS_SEPARATOR.join(snapshot.reasons).casefold() or None),
        Column.BATTERY: _number(snapshot.battery_percent, 0),
        Column.CPU: _number(snapshot.cpu_percent, 0),
        Column.CPU_TEMP: _number(snapshot.cpu_temperature, 1),
        Column.HOTTEST_SERVO: (
            Cell(MISSING_TEXT, None) if hottest is None
            else Cell(f"{hottest[0]} {hottest[1]:.1f} °C", round(hottest[1], 1))),
        Column.JOB: Cell(format_job(snapshot.job),
                         None if percent is None else round(percent)),
        Column.ALERTS: Cell(format_alerts(snapshot.unacknowledged_alerts, snapshot.open_alerts),
                            snapshot.unacknowledged_alerts),
        Column.LAST_SEEN: Cell(format_age(age), None if age is None else int(age)),
    }
    if snapshot.health not in SILENT_HEALTH:  # old values of a silent robot: no alarm colour
        for column, metric in COLUMN_METRICS.items():
            level = snapshot.levels.get(metric, Health.OK)
            if level is not Health.OK and cells[column].sort is not None:
                cells[column] = Cell(cells[column].text, cells[column].sort, level)
    return tuple(cells[column] for column in Column)


class FleetTableModel(QAbstractTableModel):
    """The fleet as a table; feed it with `set_snapshots(snapshots, now)`."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._snapshots: list[RobotSnapshot] = []
        self._cells: list[tuple[Cell, ...]] = []
        self._rows: dict[str, int] = {}
        self._now = datetime.now(UTC)

    # --- feeding ----------------------------------------------------------------------

    def set_snapshots(self, snapshots: list[RobotSnapshot], now: datetime) -> None:
        """Make the table show exactly `snapshots` (the whole fleet) as of `now`.

        New robots are appended with beginInsertRows, robots no longer listed are removed
        with beginRemoveRows, and dataChanged is emitted per row for the span of cells
        whose text or sort value changed.  Rows keep their place otherwise.
        """
        self._now = now
        latest = {snapshot.robot_id: snapshot for snapshot in snapshots}
        self._remove_missing(latest.keys())
        new = [snapshot for robot_id, snapshot in latest.items() if robot_id not in self._rows]
        for row, old_cells in enumerate(self._cells):
            snapshot = latest[self._snapshots[row].robot_id]
            self._snapshots[row] = snapshot  # tooltips read the newest values
            cells = render_row(snapshot, now)
            if cells == old_cells:
                continue
            self._cells[row] = cells
            changed = [column for column, (a, b) in enumerate(zip(old_cells, cells, strict=True))
                       if a != b]
            self.dataChanged.emit(self.index(row, changed[0]), self.index(row, changed[-1]))
        if new:
            first = len(self._snapshots)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for offset, snapshot in enumerate(new):
                self._rows[snapshot.robot_id] = first + offset
                self._snapshots.append(snapshot)
                self._cells.append(render_row(snapshot, now))
            self.endInsertRows()
            logger.debug("fleet model: %d new robot(s): %s", len(new),
                         ", ".join(s.robot_id for s in new))

    def _remove_missing(self, keep) -> None:
        gone = sorted((row for robot_id, row in self._rows.items() if robot_id not in keep),
                      reverse=True)
        for row in gone:  # from the bottom up, so the remaining row numbers stay valid
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._snapshots[row]
            del self._cells[row]
            self.endRemoveRows()
        if gone:
            self._rows = {s.robot_id: row for row, s in enumerate(self._snapshots)}

    # --- lookups ----------------------------------------------------------------------

    def robot_at(self, row: int) -> RobotSnapshot:
        """The snapshot shown in source row `row` (IndexError when out of range)."""
        if not 0 <= row < len(self._snapshots):
            raise IndexError(f"no robot in row {row}")
        return self._snapshots[row]

    def row_of(self, robot_id: str) -> int | None:
        return self._rows.get(robot_id)

    def robot_ids(self) -> list[str]:
        return [snapshot.robot_id for snapshot in self._snapshots]

    def now(self) -> datetime:
        return self._now

    # --- Qt model interface -----------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._snapshots)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(Column):
            return None
        column = Column(section)
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TOOLTIPS.get(column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in NUMERIC_COLUMNS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._cells):
            return None
        row, column = index.row(), Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cells[row][column].text
        if role == SORT_ROLE:
            return self._cells[row][column].sort
        snapshot = self._snapshots[row]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(snapshot, column)
        if role == Qt.ItemDataRole.DecorationRole and column == Column.STATUS:
            return health_icon(snapshot.health)
        if role == HEALTH_ROLE:
            return snapshot.health
        if role == ROBOT_ID_ROLE:
            return snapshot.robot_id
        if role == Qt.ItemDataRole.TextAlignmentRole and column in NUMERIC_COLUMNS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        level = self._cells[row][column].level
        if role == Qt.ItemDataRole.BackgroundRole:
            return level_background(level)
        if role == Qt.ItemDataRole.FontRole and (
                level is not Health.OK
                or column == Column.ALERTS and snapshot.unacknowledged_alerts):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._foreground(snapshot, column, self._cells[row][column])
        return None

    def _foreground(self, snapshot: RobotSnapshot, column: Column, cell: Cell) -> Any:
        # Missing values, zero alerts and offline robots recede; colours from the palette
        # so the table reads in light and dark themes alike.
        muted = (cell.sort is None and column != Column.JOB
                 or column == Column.ALERTS and not snapshot.unacknowledged_alerts
                 or snapshot.health in SILENT_HEALTH and column != Column.STATUS)
        if muted:
            return QGuiApplication.palette().color(QPalette.ColorRole.PlaceholderText)
        return None

    def _tooltip(self, snapshot: RobotSnapshot, column: Column) -> str | None:
        if column == Column.ROBOT:
            lines = [snapshot.robot_id, f"reported status: {snapshot.status}"]
            if snapshot.legacy:
                lines.append("legacy wire format (no last will: goes STALE, then OFFLINE)")
            return "\n".join(lines)
        if column in (Column.STATUS, Column.REASONS):
            lines = [snapshot.health.name, *snapshot.reasons]
            if snapshot.stale_signals:
                lines.append("stale: " + ", ".join(snapshot.stale_signals))
            if len(lines) == 1 and snapshot.health == Health.OK:
                lines.append("all signals within limits")
            return "\n".join(lines)
        if column == Column.BATTERY and snapshot.battery_voltage is not None:
            return f"{snapshot.battery_voltage:.2f} V"
        if column == Column.CPU and snapshot.memory_percent is not None:
            return f"memory {snapshot.memory_percent:.0f} %"
        if column == Column.JOB and snapshot.job is not None:
            job = snapshot.job
            return "\n".join(filter(None, [
                job.task_name or "Job", f"status: {job.status}",
                None if job.items_total is None
                else f"items: {job.items_done or 0} of {job.items_total}"]))
        if column in COLUMN_METRICS and self._cells[self._rows[snapshot.robot_id]][column].level:
            level = self._cells[self._rows[snapshot.robot_id]][column].level
            return ("past its critical threshold" if level is Health.ERROR
                    else "past its warning threshold")
        if column == Column.ALERTS:
            text = f"{snapshot.unacknowledged_alerts} unacknowledged"
            if snapshot.open_alerts is not None:
                text += f"\n{snapshot.open_alerts} open (unresolved) per the records"
            return text
        if column == Column.LAST_SEEN:
            if snapshot.last_seen is None:
                return "no message received yet"
            exact = snapshot.last_seen.astimezone(UTC)
            return exact.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
        return None
