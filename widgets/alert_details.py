"""The details of one alert: summary, its history (raised, escalated, acknowledged, ...)
and a small chart of the metric around the time it was raised.

Takes plain values only (AlertRow, AlertEventRow, numpy arrays); the application loads
them from the records and history stores.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from widgets.alert_model import (
    MISSING_TEXT,
    STATE_TEXT,
    AlertRow,
    format_acknowledged,
    format_value,
)
from widgets.palette import BAND_ALPHA, SEVERITY_COLOURS, STALE_COLOUR

logger = logging.getLogger(__name__)

CHART_MIN_HEIGHT_PX = 150
CHART_MIN_WIDTH_PX = 320
CHART_Y_PADDING = 0.08  # of the value span, so the threshold line is not on the frame
EVENT_COLUMNS = ("Time (UTC)", "Event", "By", "Details")
NO_SELECTION_TEXT = "Select an alert to see its history."
NO_CHART_TEXT = "Select an alert to see its signal around the time it was raised."


@dataclass(frozen=True, slots=True)
class AlertEventRow:
    at: datetime
    event: str  # raised, escalated, acknowledged, resolved, ...
    actor: str | None = None
    details: str = ""  # a comment, a reason, "warning -> critical", ...


class AlertEventModel(QAbstractTableModel):
    """The few events of one alert, oldest first (replaced wholesale per alert)."""

    def __init__(self) -> None:
        super().__init__()
        self._events: list[AlertEventRow] = []

    def set_events(self, events: Sequence[AlertEventRow]) -> None:
        self.beginResetModel()
        self._events = sorted(events, key=lambda e: e.at)
        self.endResetModel()

    def events(self) -> list[AlertEventRow]:
        return list(self._events)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._events)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(EVENT_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return EVENT_COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole,
                                               Qt.ItemDataRole.ToolTipRole):
            return None
        event = self._events[index.row()]
        values = (event.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), event.event,
                  event.actor or MISSING_TEXT, event.details)
        return values[index.column()]


class AlertDetails(QWidget):
    """Summary and history on the left, the metric chart on the right."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._alert: AlertRow | None = None
        self.summary = QLabel(NO_SELECTION_TEXT)
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.event_model = AlertEventModel()
        self.events_view = QTableView()
        self.events_view.setModel(self.event_model)
        self.events_view.verticalHeader().hide()
        self.events_view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.events_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.events_view.horizontalHeader().setStretchLastSection(True)
        self.events_view.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.events_view.setAlternatingRowColors(True)

        self.plot = pg.PlotWidget()
        self.plot.setMinimumSize(CHART_MIN_WIDTH_PX, CHART_MIN_HEIGHT_PX)
        self.plot.setAxisItems({"bottom": pg.DateAxisItem()})  # local time: say which
        self.plot.getAxis("bottom").setLabel(
            f"time ({datetime.now(UTC).astimezone().strftime('%Z')})")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.chart_note = QLabel()
        self.chart_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.chart_note.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

        left = QVBoxLayout()
        left.setContentsMargins(0, 0, 0, 0)
        left.addWidget(self.summary)
        left.addWidget(self.events_view, 1)
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.addWidget(self.plot, 1)
        right.addWidget(self.chart_note)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(left, 1)
        layout.addLayout(right, 1)
        self.clear()

    def alert(self) -> AlertRow | None:
        return self._alert

    def clear(self) -> None:
        self._alert = None
        self.summary.setText(NO_SELECTION_TEXT)
        self.event_model.set_events([])
        self._show_plot(False, NO_CHART_TEXT)

    def _show_plot(self, visible: bool, note: str) -> None:
        """An empty chart would tick its axes 0.1..0.9, which reads as data: without a
        series the note takes the chart's place."""
        if not visible:
            self.plot.clear()
        self.plot.setVisible(visible)
        vertical = QSizePolicy.Policy.Fixed if visible else QSizePolicy.Policy.Expanding
        self.chart_note.setSizePolicy(QSizePolicy.Policy.Preferred, vertical)
        self.chart_note.setText(note)

    def set_alert(self, alert: AlertRow) -> None:
        """Show an alert's summary; history and chart follow via set_history / set_series."""
        changed = self._alert is None or self._alert.id != alert.id
        self._alert = alert
        color = SEVERITY_COLOURS.get(alert.severity, STALE_COLOUR)
        raised = (alert.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                  if alert.created_at else MISSING_TEXT)
        cleared = (alert.resolved_at.astimezone(UTC).strftime(" · cleared %H:%M:%S UTC")
                   if alert.resolved_at else "")
        self.summary.setText(
            f"<b style='color:{color}'>{html.escape(alert.severity.upper())}</b> "
            f"&nbsp;<b>{html.escape(alert.title)}</b> "
            f"<span style='color:gray'>#{alert.id}</span><br>"
            f"{html.escape(alert.message)}<br>"
            f"{html.escape(alert.robot_id or MISSING_TEXT)} · {html.escape(alert.alert_type)}"
            f" / {html.escape(alert.source or MISSING_TEXT)} · {html.escape(format_value(alert))}"
            f"<br>Raised {raised}{cleared} · {STATE_TEXT[alert.state]}"
            + (f" by {html.escape(format_acknowledged(alert))}" if alert.acknowledged else ""))
        if changed:
            self.event_model.set_events([])
            self._show_plot(False, "Loading the signal around the alert time...")

    def set_history(self, events: Sequence[AlertEventRow]) -> None:
        self.event_model.set_events(events)

    def set_series(self, times: np.ndarray, values: np.ndarray, *, label: str = "",
                   unit: str = "", lower: np.ndarray | None = None,
                   upper: np.ndarray | None = None, threshold: float | None = None,
                   marker_at: datetime | None = None) -> None:
        """Plot a metric (epoch seconds, values), with its min/max band when given, the
        threshold as a dashed line and the alert time as a vertical line."""
        self.plot.clear()
        times = np.asarray(times, dtype=float)
        values = np.asarray(values, dtype=float)
        if times.size == 0:
            self.set_chart_unavailable("No history stored around the alert time.")
            return
        color = QColor(SEVERITY_COLOURS.get(self._alert.severity if self._alert else "", "#3b7dd8"))
        if lower is not None and upper is not None and len(lower) == times.size:
            invisible = pg.mkPen(0, 0, 0, 0)  # FillBetweenItem needs curves with a path
            low = pg.PlotCurveItem(times, np.asarray(lower, dtype=float), pen=invisible)
            high = pg.PlotCurveItem(times, np.asarray(upper, dtype=float), pen=invisible)
            band = QColor("#3b7dd8")
            band.setAlpha(BAND_ALPHA)
            self.plot.addItem(low)
            self.plot.addItem(high)
            self.plot.addItem(pg.FillBetweenItem(low, high, brush=band))
        self.plot.plot(times, values, pen=pg.mkPen("#3b7dd8", width=1))
        if threshold is not None:
            line = pg.InfiniteLine(threshold, angle=0, movable=False,
                                   pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DashLine))
            self.plot.addItem(line)
        if marker_at is not None:
            self.plot.addItem(pg.InfiniteLine(marker_at.timestamp(), angle=90, movable=False,
                                              pen=pg.mkPen(color, width=1)))
        self.plot.getAxis("left").setLabel(f"{label} ({unit})" if unit else label)
        self._fit_ranges(times, values, lower, upper, threshold, marker_at)
        self._show_plot(True, f"{label}: {times.size} points, min/max band shaded; "
                              "dashed: threshold, solid: raised")

    def _fit_ranges(self, times: np.ndarray, values: np.ndarray, lower, upper,
                    threshold: float | None, marker_at: datetime | None) -> None:
        """Explicit ranges: auto-range would include the infinite lines' origin (1970)."""
        xs = [float(times.min()), float(times.max())]
        if marker_at is not None:
            xs.append(marker_at.timestamp())
        ys = [float(np.nanmin(values)), float(np.nanmax(values))]
        for extra in (lower, upper):
            if extra is not None and len(extra):
                ys += [float(np.nanmin(extra)), float(np.nanmax(extra))]
        if threshold is not None:
            ys.append(float(threshold))
        y_pad = max((max(ys) - min(ys)) * CHART_Y_PADDING, 0.5)
        self.plot.setXRange(min(xs), max(xs), padding=0.02)
        self.plot.setYRange(min(ys) - y_pad, max(ys) + y_pad, padding=0)

    def set_chart_unavailable(self, reason: str) -> None:
        self._show_plot(False, reason)

