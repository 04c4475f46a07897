"""Building blocks of HistoryPlot: one signal's band and mean line, alert/job overlays
and threshold lines, in colours taken from the widget's palette."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from widgets.palette import BAND_ALPHA, STALE_COLOUR, THRESHOLD_COLOURS

logger = logging.getLogger(__name__)

MARKER_COLORS = {"raised": "#d62728", "resolved": "#2ca02c"}
MARKER_DEFAULT_COLOR = STALE_COLOUR
SPAN_FILL = QColor(120, 120, 200, 40)
SPAN_EDGE = QColor(120, 120, 200, 120)
SPAN_TEXT = QColor(110, 110, 200)  # reads on white and on near-black
MARKER_LABEL_HEIGHTS = (0.97, 0.91, 0.85, 0.79)  # of the view height; neighbours differ
LABEL_MAX_CHARS = 36  # longer labels are elided; the full text is in the tooltip
LABEL_FILL_ALPHA = 210  # label backgrounds: the curve behind stays guessable

TimeLike = float | datetime


def epoch_s(moment: TimeLike) -> float:
    return moment.timestamp() if isinstance(moment, datetime) else float(moment)


def elide(text: str, limit: int = LABEL_MAX_CHARS) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def label_fill(base: QColor) -> pg.QtGui.QBrush:
    fill = QColor(base)
    fill.setAlpha(LABEL_FILL_ALPHA)
    return pg.mkBrush(fill)


@dataclass
class SeriesData:
    """One signal as the page hands it over: buckets as arrays, and its axis unit."""

    key: str
    unit: str
    times: np.ndarray
    mins: np.ndarray
    means: np.ndarray
    maxs: np.ndarray

    def __post_init__(self) -> None:
        self.times, self.mins, self.means, self.maxs = (
            np.asarray(values, dtype=float)
            for values in (self.times, self.mins, self.means, self.maxs))
        if len({len(self.times), len(self.mins), len(self.means), len(self.maxs)}) != 1:
            raise ValueError("times, mins, means and maxs must have the same length")


@dataclass
class SeriesItems:
    data: SeriesData
    mean: pg.PlotDataItem
    low: pg.PlotDataItem
    high: pg.PlotDataItem
    band: pg.FillBetweenItem

    def set_data(self, data: SeriesData) -> None:
        self.data = data
        self.low.setData(data.times, data.mins)
        self.high.setData(data.times, data.maxs)
        self.mean.setData(data.times, data.means)

    def set_color(self, color: QColor) -> None:
        band_color = QColor(color)
        band_color.setAlpha(BAND_ALPHA)
        for edge in (self.low, self.high):
            edge.setPen(pg.mkPen(band_color, width=1))
        self.band.setBrush(pg.mkBrush(band_color))
        self.mean.setPen(pg.mkPen(color, width=2))


def new_series_items(plot: pg.PlotItem, data: SeriesData, color: QColor) -> SeriesItems:
    low, high = pg.PlotDataItem(), pg.PlotDataItem()
    band = pg.FillBetweenItem(low, high)
    mean = pg.PlotDataItem(name=data.key)
    for item in (band, low, high, mean):  # only the mean line is named: one legend row
        plot.addItem(item)
    items = SeriesItems(data, mean, low, high, band)
    items.set_color(color)
    items.set_data(data)
    return items


def marker_line(moment: TimeLike, label: str, kind: str, index: int, *, labelled: bool,
                base: QColor) -> pg.InfiniteLine:
    """A dashed vertical line; its label (top panel only) sits inside the view: pyqtgraph
    flips the anchor to the line's left when the line is in the right half."""
    color = MARKER_COLORS.get(kind, MARKER_DEFAULT_COLOR)
    options = {}
    if labelled:
        options = {"label": elide(label), "labelOpts": {
            "position": MARKER_LABEL_HEIGHTS[index % len(MARKER_LABEL_HEIGHTS)],
            "color": color, "fill": label_fill(base), "anchors": [(0, 0.5), (1, 0.5)]}}
    line = pg.InfiniteLine(pos=epoch_s(moment), angle=90, movable=False,
                           pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DashLine), **options)
    line.setToolTip(f"{kind}: {label}")
    line.full_label = label
    line.text = getattr(line, "label", None)  # pyqtgraph sets .label only when given one
    if line.text is not None:
        line.text.setToolTip(f"{kind}: {label}")
    return line


def span_region(start: TimeLike, end: TimeLike, label: str, *, labelled: bool
                ) -> pg.LinearRegionItem:
    region = pg.LinearRegionItem(values=(epoch_s(start), epoch_s(end)), movable=False,
                                 brush=pg.mkBrush(SPAN_FILL), pen=pg.mkPen(SPAN_EDGE))
    region.setToolTip(label)
    region.full_label = label
    region.text = None
    if labelled:
        region.text = pg.InfLineLabel(region.lines[0], text=elide(label), position=0.04,
                                      color=SPAN_TEXT, anchors=[(0, 1), (1, 1)])
        region.text.setToolTip(label)
    return region


def threshold_line(value: float, kind: str, unit: str, base: QColor) -> pg.InfiniteLine:
    color = THRESHOLD_COLOURS.get(kind, MARKER_DEFAULT_COLOR)
    text = f"{kind} {value:g} {unit}".rstrip()
    line = pg.InfiniteLine(
        pos=value, angle=0, movable=False,
        pen=pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashDotLine), label=text,
        # right end; below the line in the upper half of the view, above it in the lower
        labelOpts={"position": 0.99, "color": color, "fill": label_fill(base),
                   "anchors": [(1, 0), (1, 1)]})
    line.setToolTip(text)
    line.kind = kind
    return line
