"""History chart: per signal a mean line inside its min/max band, plus alert and job overlays.

The band keeps spikes visible however coarse the buckets are.  Times are UTC epoch
seconds; the DateAxisItem shows local clock time.  When the user zooms or pans,
`range_changed` fires once the view has been still for RANGE_DEBOUNCE_MS so the page can
re-query at the finer resolution without a query per mouse-wheel step.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QVBoxLayout, QWidget

from widgets.live_plot_items import CURVE_COLORS

logger = logging.getLogger(__name__)

RANGE_DEBOUNCE_MS = 300
BAND_ALPHA = 60  # of 255: the band is context, the mean line is the reading
MARKER_COLORS = {"raised": "#d62728", "resolved": "#2ca02c"}
MARKER_DEFAULT_COLOR = "#8d949b"
SPAN_COLOR = QColor(120, 120, 200, 40)
PLOT_MIN_HEIGHT_PX = 240
MARKER_LABEL_HEIGHTS = (0.97, 0.92, 0.87)  # fractions of the view height

TimeLike = float | datetime


def epoch_s(moment: TimeLike) -> float:
    return moment.timestamp() if isinstance(moment, datetime) else float(moment)


@dataclass
class _Series:
    mean: pg.PlotDataItem
    low: pg.PlotDataItem
    high: pg.PlotDataItem
    band: pg.FillBetweenItem
    times: np.ndarray
    mins: np.ndarray
    means: np.ndarray
    maxs: np.ndarray


class HistoryPlot(QWidget):
    """set_series / set_markers / set_spans; emits range_changed(start_s, stop_s, width_px)."""

    range_changed = Signal(float, float, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        self._plot.setMinimumHeight(PLOT_MIN_HEIGHT_PX)
        self._plot.showGrid(x=True, y=True, alpha=0.25)
        self._plot.setBackground("w")
        for axis in ("left", "bottom"):
            self._plot.getAxis(axis).setTextPen("k")
            self._plot.getAxis(axis).setPen("k")
        self._legend = self._plot.addLegend(offset=(10, 10), labelTextColor="k",
                                            brush=pg.mkBrush(255, 255, 255, 200))
        self._series: dict[str, _Series] = {}
        self._markers: list[pg.InfiniteLine] = []
        self._spans: list[pg.LinearRegionItem] = []
        self._quiet = False  # True while we move the view ourselves: no re-query for that
        self._debounce = QTimer(self, singleShot=True, interval=RANGE_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._on_range_settled)
        self._plot.getViewBox().sigXRangeChanged.connect(self._on_x_range_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._plot)

    # -- data -------------------------------------------------------------------------
    def set_units(self, units: str) -> None:
        self._plot.setLabel("left", units or "")

    def series_keys(self) -> list[str]:
        return list(self._series)

    def series_data(self, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        s = self._series[key]
        return s.times, s.mins, s.means, s.maxs

    def set_series(self, key: str, times: Sequence[float], mins: Sequence[float],
                   means: Sequence[float], maxs: Sequence[float]) -> None:
        arrays = [np.asarray(values, dtype=float) for values in (times, mins, means, maxs)]
        if len({len(a) for a in arrays}) != 1:
            raise ValueError("times, mins, means and maxs must have the same length")
        series = self._series.get(key) or self._new_series(key)
        series.times, series.mins, series.means, series.maxs = arrays
        series.low.setData(arrays[0], arrays[1])
        series.high.setData(arrays[0], arrays[3])
        series.mean.setData(arrays[0], arrays[2])

    def _new_series(self, key: str) -> _Series:
        color = QColor(CURVE_COLORS[len(self._series) % len(CURVE_COLORS)])
        band_color = QColor(color)
        band_color.setAlpha(BAND_ALPHA)
        edge = pg.mkPen(band_color, width=1)
        low = pg.PlotDataItem(pen=edge)
        high = pg.PlotDataItem(pen=edge)
        band = pg.FillBetweenItem(low, high, brush=pg.mkBrush(band_color))
        mean = pg.PlotDataItem(pen=pg.mkPen(color, width=2), name=key)
        for item in (band, low, high):
            self._plot.addItem(item)
            # the band must not steal the legend: only the mean line is named
        self._plot.addItem(mean)
        empty = np.empty(0)
        series = _Series(mean, low, high, band, empty, empty, empty, empty)
        self._series[key] = series
        return series

    def remove_series(self, key: str) -> None:
        series = self._series.pop(key, None)
        if series is None:
            return
        for item in (series.band, series.low, series.high, series.mean):
            self._plot.removeItem(item)
        self._legend.removeItem(series.mean)

    def clear_series(self) -> None:
        for key in list(self._series):
            self.remove_series(key)

    # -- overlays ---------------------------------------------------------------------
    def set_markers(self, markers: Sequence[tuple[TimeLike, str, str]]) -> None:
        """Vertical lines at (time, label, kind); kind "raised" red, "resolved" green."""
        for line in self._markers:
            self._plot.removeItem(line)
        self._markers = []
        for index, (moment, label, kind) in enumerate(markers):
            color = MARKER_COLORS.get(kind, MARKER_DEFAULT_COLOR)
            # staggered heights so a raise and its resolve close together stay readable
            line = pg.InfiniteLine(
                pos=epoch_s(moment), angle=90, movable=False,
                pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DashLine), label=label,
                labelOpts={"position": MARKER_LABEL_HEIGHTS[index % len(MARKER_LABEL_HEIGHTS)],
                           "color": color, "fill": pg.mkBrush(255, 255, 255, 200),
                           "anchors": [(0, 0.5), (0, 0.5)]})
            line.setToolTip(f"{kind}: {label}")
            self._plot.addItem(line, ignoreBounds=True)
            self._markers.append(line)

    def markers(self) -> list[tuple[float, str]]:
        return [(line.value(), line.label.format if line.label else "") for line in self._markers]

    def set_spans(self, spans: Sequence[tuple[TimeLike, TimeLike, str]]) -> None:
        """Shaded, non-movable regions for job spans."""
        for region in self._spans:
            self._plot.removeItem(region)
        self._spans = []
        for start, end, label in spans:
            region = pg.LinearRegionItem(values=(epoch_s(start), epoch_s(end)), movable=False,
                                         brush=pg.mkBrush(SPAN_COLOR),
                                         pen=pg.mkPen(QColor(120, 120, 200, 120)))
            region.setToolTip(label)
            pg.InfLineLabel(region.lines[0], text=label, position=0.06,
                            color=(70, 70, 150), anchors=[(0, 0), (0, 0)])
            self._plot.addItem(region, ignoreBounds=True)
            self._spans.append(region)

    def spans(self) -> list[tuple[float, float]]:
        return [tuple(region.getRegion()) for region in self._spans]

    # -- view range -------------------------------------------------------------------
    def set_x_range(self, start: TimeLike, stop: TimeLike) -> None:
        """Show [start, stop) without emitting range_changed (the page asked for it)."""
        self._quiet = True
        try:
            self._plot.setXRange(epoch_s(start), epoch_s(stop), padding=0)
            self._plot.enableAutoRange(axis="y")
        finally:
            self._quiet = False
        self._debounce.stop()

    def x_range(self) -> tuple[float, float]:
        low, high = self._plot.getViewBox().viewRange()[0]
        return float(low), float(high)

    def pixel_width(self) -> int:
        return max(1, int(self._plot.getViewBox().width()))

    def _on_x_range_changed(self, *_args: object) -> None:
        if not self._quiet:
            self._debounce.start()

    def _on_range_settled(self) -> None:
        start, stop = self.x_range()
        self.range_changed.emit(start, stop, self.pixel_width())
