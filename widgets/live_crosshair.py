"""The crosshair of a LivePlot: a vertical line at the cursor and a read-out box with the
nearest value of every shown curve (a mixin: it reads the plot's curves and data)."""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF
from PySide6.QtGui import QFont, QFontMetrics, QPalette

from services.live.model import SignalKey
from widgets.live_plot_items import STALE_COLOR, readout_html

logger = logging.getLogger(__name__)

READOUT_FONT_PT = 8
READOUT_MARGIN_PX = 4


class CrosshairMixin:
    """Needs from the plot: _keys, _data, _curves, _names, _stale, _colors, _unit,
    view_box, plot_widget, _vline, _readout, _crosshair_x."""

    # --- crosshair ----------------------------------------------------------------------

    def show_crosshair_at(self, x: float) -> None:
        """Vertical line at time `x` with the nearest value of every shown curve."""
        self._crosshair_x = x
        self._vline.setPos(x)
        self._vline.show()
        self._readout.setHtml(self._readout_html(x))
        # The box sits in the top corner away from the cursor: it never covers the
        # values being read and is never cut off at the plot's edge.
        x_low, x_high = self.view_box.viewRange()[0]
        cursor_on_right = x > (x_low + x_high) / 2
        self._readout.setAnchor((0, 0) if cursor_on_right else (1, 0))
        margin = READOUT_MARGIN_PX
        self._readout.setPos(margin if cursor_on_right else self.view_box.width() - margin,
                             margin)
        self._readout.show()

    def hide_crosshair(self) -> None:
        self._crosshair_x = None
        self._vline.hide()
        self._readout.hide()

    def readout_at(self, x: float) -> list[tuple[SignalKey, float]]:
        """(key, value) of the sample nearest to time `x`, for curves shown and covering x."""
        result = []
        for key in self._keys:
            arrays = self._data.get(key)
            if arrays is None or not len(arrays[0]) or not self._curves[key].isVisible():
                continue
            times, values = arrays
            if x < times[0] or x > times[-1]:
                continue
            index = int(np.searchsorted(times, x))
            if index >= len(times) or (index > 0 and x - times[index - 1] < times[index] - x):
                index -= 1
            result.append((key, float(values[index])))
        return result

    def _readout_html(self, x: float) -> str:
        # Local clock time, as the DateAxisItem shows it.
        clock = datetime.fromtimestamp(x, UTC).astimezone().strftime("%H:%M:%S.%f")[:-5]
        values = self.readout_at(x)
        # The box must fit the plot: as many rows as its height allows, and columns up
        # to 60 % of its width.  When the curves do not all fit, the highest are shown.
        metrics = QFontMetrics(self._readout_font())
        rows_per_column = max(3, int(self.view_box.height() // metrics.lineSpacing()) - 2)
        widest = max((metrics.horizontalAdvance(f"■ {self._names[k]} 000.00") for k, _ in values),
                     default=1)
        max_columns = max(1, int(self.view_box.width() * 0.6 // (widest + 8)))
        hidden = max(0, len(values) - rows_per_column * max_columns)
        if hidden:
            values = sorted(values, key=lambda item: item[1], reverse=True)
            values = values[:len(values) - hidden - 1]  # one row for the "more" line
            hidden += 1
        entries = [(self._names[key], STALE_COLOR if self._stale.get(key) is not None
                    else self._colors[key].name(), value) for key, value in values]
        text_color = self.palette().color(QPalette.ColorRole.Text).name()
        unit = f" ({html.escape(self._unit)})" if self._unit else ""
        return readout_html(f"<b>{clock}</b>{unit}",
                            entries, hidden, rows_per_column, text_color, READOUT_FONT_PT)

    def _readout_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(READOUT_FONT_PT)
        return font

    def readout_html(self) -> str:
        return self._readout.textItem.toHtml()

    def _on_mouse_moved(self, event) -> None:
        position: QPointF = event[0]
        if not self.view_box.sceneBoundingRect().contains(position):
            self.hide_crosshair()
            return
        self.show_crosshair_at(self.view_box.mapSceneToView(position).x())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.plot_widget and event.type() == QEvent.Type.Leave:
            self.hide_crosshair()
        return super().eventFilter(watched, event)
