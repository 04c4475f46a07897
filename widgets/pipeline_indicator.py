"""Status-bar indicator of the ingest pipeline, with a per-instance detail popup.

It shows a PipelineStatus (services.live.pipeline) it is handed; where that comes from
(MQTT health reports) is not its business.
"""

from __future__ import annotations

import logging
from datetime import datetime

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from services.live.pipeline_status import InstanceStatus, PipelineStatus
from widgets.palette import ERROR_TEXT_COLOURS, OK_TEXT_COLOURS, WAIT_TEXT_COLOURS, is_dark

logger = logging.getLogger(__name__)

# (light, dark) text colours
LAG_WARN_S = 10.0  # storage this far behind arrival is worth a colour
COUNTERS = ("received", "stored", "rejected", "dead_lettered", "redelivered", "duplicates",
            "confirmed")
COLUMNS = ("Instance", "State", "Last report", "Received", "Stored", "Rejected",
           "Dead-lettered", "Redelivered", "Duplicates", "Confirmed", "Queue", "Store lag",
           "Last store")


def _local_time(moment: datetime | None) -> str:
    return "never" if moment is None else moment.astimezone().strftime("%H:%M:%S %Z")


def instance_cells(item: InstanceStatus) -> list[str]:
    state = "up" if item.up else f"DOWN ({item.why_down})"
    cells = [item.instance, state, f"{item.report_age_s:.0f} s ago"]
    cells += [f"{item.counters.get(name, 0):,}" for name in COUNTERS]
    cells += [str(item.queue_depth),
              "-" if item.store_lag_s is None else f"{item.store_lag_s:.1f} s",
              _local_time(item.last_store_at)]
    return cells


class PipelinePopup(QFrame):
    """Per-instance details; closes when the operator clicks elsewhere."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setObjectName("pipeline_popup")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        font = self.heading.font()
        font.setBold(True)
        self.heading.setFont(font)
        layout.addWidget(self.heading)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("pipeline_table")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.table)
        self.note = QLabel("Each ingest reports every 5 s; one silent for 15 s, or that said "
                           "goodbye, is down. Rates are per minute between its last two "
                           "reports.")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)

    def set_status(self, status: PipelineStatus) -> None:
        self.heading.setText(status.summary())
        self.table.setRowCount(len(status.instances))
        colours = (OK_TEXT_COLOURS, ERROR_TEXT_COLOURS)
        dark = is_dark(self)
        for row, item in enumerate(status.instances):
            for column, text in enumerate(instance_cells(item)):
                cell = QTableWidgetItem(text)
                if column >= 3:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if column == 1:
                    cell.setForeground(QColor(colours[not item.up][dark]))
                self.table.setItem(row, column, cell)
        if not status.instances:
            self.table.setRowCount(1)
            self.table.setItem(0, 0, QTableWidgetItem("no ingest has reported"))
        self.table.resizeColumnsToContents()
        frame = 2 * self.table.frameWidth()
        height = self.table.horizontalHeader().height() + frame + sum(
            self.table.rowHeight(row) for row in range(self.table.rowCount()))
        width = frame + sum(self.table.columnWidth(column)
                            for column in range(self.table.columnCount()))
        # Every counter in view at once: a scroll bar would hide the last row too.
        screen = self.screen().availableGeometry().width() if self.screen() else width
        self.table.setFixedSize(min(width, screen - 40), height)
        self.adjustSize()


class PipelineIndicator(QToolButton):
    """'Ingest: up, lag 0.2 s' in green, 'Ingest: DOWN' in red; click for details."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pipeline_indicator")
        self.setAutoRaise(True)
        self.setText("Ingest: waiting for a report...")
        self.setToolTip("The ingest pipeline that stores the data; click for details")
        self._status: PipelineStatus | None = None
        self.popup = PipelinePopup(self)
        self.clicked.connect(self._on_clicked)

    def set_status(self, status: PipelineStatus | None, unknown_reason: str = "") -> None:
        """None: the health reports cannot be received now (e.g. the broker is away)."""
        self._status = status
        dark = is_dark(self)
        if status is None:
            text, colour = f"Ingest: unknown ({unknown_reason})", WAIT_TEXT_COLOURS[dark]
        else:
            text = status.summary()
            if status.waiting:
                colour = WAIT_TEXT_COLOURS[dark]
            elif not status.alive:
                colour = ERROR_TEXT_COLOURS[dark]
            elif (status.worst_lag_s or 0) > LAG_WARN_S or status.up_count < len(
                    status.instances) or status.rejected_per_min + \
                    status.dead_lettered_per_min > 0:
                colour = WAIT_TEXT_COLOURS[dark]
            else:
                colour = OK_TEXT_COLOURS[dark]
        self.setText(text)
        self.setStyleSheet(f"QToolButton#pipeline_indicator {{ color: {colour}; "
                           "font-weight: bold; padding: 0 6px; }")
        if self.popup.isVisible() and status is not None:
            self.popup.set_status(status)

    def _on_clicked(self) -> None:
        if self._status is None:
            return
        self.popup.set_status(self._status)
        below = self.mapToGlobal(QPoint(0, 0))
        self.popup.move(below.x() + self.width() - self.popup.width(),
                        below.y() - self.popup.height() - 4)
        self.popup.show()
