"""Curve styles and the legend of a LivePlot (a mixin: it reads the plot's curves):
colours per curve or per robot, the hottest curve emphasised, a legend laid out in as
many columns as fit, re-laid out when a "(stale ...)" label makes an entry longer."""

from __future__ import annotations

import logging
import math

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QFont, QFontMetrics, QPalette

from services.live.model import SignalKey
from widgets.live_plot_items import STALE_COLOR, curve_styles, format_stale_age, legend_keys

logger = logging.getLogger(__name__)

PLOT_MIN_HEIGHT_PX = 180  # title, axes and a data area worth looking at; the legend adds to it
LEGEND_FONT_PT = 8
LEGEND_SAMPLE_PX = 20
LEGEND_ROW_SPACING_PX = 4
LEGEND_MARGIN_PX = 12
LEGEND_GAP_PX = 18  # between one entry's text and the next entry's swatch
LEFT_AXIS_WIDTH_PX = 58  # fixed so the plots of a page line up vertically


class LegendMixin:
    """Needs from the plot: _keys, _names, _curves, _data, _stale, _hottest, legend,
    plot_widget, plot_item, _legend_text, _legend_keys, _legend_words, _styles, _colors."""

    def _restyle(self) -> None:
        """Pens and legend from the keys, the palette and the hottest curves (cheap: only
        when one of them changes)."""
        self._styles = curve_styles(self._keys, self._dark_background(), self._hottest)
        self._colors = {key: style.color for key, style in self._styles.items()}
        self._legend_keys, self._legend_words = legend_keys(self._keys, self._hottest)
        self.legend.clear()
        for key in self._keys:
            self._legend_text[key] = self._display_name(key)
            self._apply_pen(key)
        for key in self._legend_keys:
            self.legend.addItem(self._curves[key], self._legend_text[key])
            self._set_legend_label(key)
        self._layout_legend(force=True)

    def set_emphasize_hottest(self, emphasize: bool) -> None:
        """Draw the hottest curve of each robot thick and labelled, the others faded."""
        self._emphasize_hottest = emphasize

    def hottest(self) -> frozenset[SignalKey]:
        return self._hottest

    def _update_hottest(self) -> None:
        latest: dict[str, tuple[float, SignalKey]] = {}
        for key in self._keys:
            arrays = self._data.get(key)
            if arrays is not None and len(arrays[1]) and self._stale.get(key) is None:
                value = float(arrays[1][-1])
                if key.robot_id not in latest or value > latest[key.robot_id][0]:
                    latest[key.robot_id] = (value, key)
        hottest = frozenset(key for _, key in latest.values())
        if hottest != self._hottest:
            self._hottest = hottest
            self._restyle()

    def _layout_legend(self, force: bool = False) -> None:
        """As many legend columns as fit the plot's width (a grid, so names line up)."""
        if not self._keys:
            return
        font = QFont(self.font())
        font.setPointSizeF(LEGEND_FONT_PT)
        metrics = QFontMetrics(font)
        widest = max(metrics.horizontalAdvance(self._legend_text[key])
                     for key in self._legend_keys)
        entry = LEGEND_SAMPLE_PX + widest + LEGEND_GAP_PX
        usable = max(self.plot_widget.width() - LEFT_AXIS_WIDTH_PX - 16, entry)
        count = len(self._legend_keys)
        columns = max(1, min(count, usable // entry))
        rows = math.ceil(count / columns)
        columns = math.ceil(count / rows)  # balanced: 16 in 2 rows of 8, not 9 + 7
        if force or columns != self._legend_columns:
            self._legend_columns = columns
            self.legend.columnCount = 0  # makes setColumnCount re-lay out even if unchanged
            self.legend.setColumnCount(columns)
        # Grow rather than squash the data area when the legend is long (pages scroll).
        # Estimated from the font: the legend's own size is only right once Qt has laid
        # it out, and a transient value would make the plot jump in height.
        legend_px = rows * (metrics.height() + LEGEND_ROW_SPACING_PX) + LEGEND_MARGIN_PX
        self.plot_widget.setMinimumHeight(PLOT_MIN_HEIGHT_PX + legend_px)
        # The legend's new size changes the plot item's layout; fit it to the view again.
        self.plot_item.setGeometry(QRectF(self.plot_widget.viewport().rect()))

    def _set_legend_label(self, key: SignalKey) -> None:
        label = self.legend.getLabel(self._curves[key])
        if label is None:
            return
        role = (QPalette.ColorRole.PlaceholderText if self._stale.get(key) is not None
                else QPalette.ColorRole.Text)
        label.setText(self._legend_text[key], color=self.palette().color(role))

    def _display_name(self, key: SignalKey) -> str:
        words = self._legend_words.get(key, "")
        # "@..." replaces the name (one entry standing for a robot's servos), else a suffix
        name = words[1:] if words.startswith("@") else self._names.get(key, key.label) + words
        age = self._stale.get(key)
        return name if age is None else f"{name} (stale {format_stale_age(age)})"

    def _apply_pen(self, key: SignalKey) -> None:
        curve = self._curves[key]
        if self._stale.get(key) is None:
            style = self._styles[key]
            curve.setPen(pg.mkPen(style.color, width=style.width, style=style.style))
        else:
            curve.setPen(pg.mkPen(STALE_COLOR, width=1, style=Qt.PenStyle.DashLine))
        sample = next((s for s, _ in self.legend.items if s.item is curve), None)
        if sample is not None:
            sample.update()
