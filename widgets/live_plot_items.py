"""Building blocks of LivePlot: curve colours, value formats, the legend swatch and
the crosshair read-out."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from widgets.palette import STALE_COLOUR

Y_RANGE_STEPS = 50  # y range ends are rounded to ~2 % of the span (see fitted_range)
STALE_COLOR = STALE_COLOUR  # the STALE badge grey: reads on light and dark backgrounds
# Qualitative colours that stay readable on white and on near-black (no grey: grey means
# stale).  Beyond these, hues are spread evenly around the wheel.
CURVE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#17becf",
                "#e377c2", "#bcbd22", "#8c564b")


def curve_colors(count: int, dark_background: bool = False) -> list[QColor]:
    """`count` distinct colours that read on the background (lighter ones on dark)."""
    if count <= len(CURVE_COLORS):
        colors = [QColor(c) for c in CURVE_COLORS[:count]]
        return [c.lighter(135) for c in colors] if dark_background else colors
    # Evenly spread hues; alternate saturation (dark) or brightness (light) so that
    # neighbouring hues stay distinguishable.
    if dark_background:
        return [QColor.fromHsvF(i / count, 0.85 if i % 2 == 0 else 0.5, 1.0)
                for i in range(count)]
    return [QColor.fromHsvF(i / count, 0.9, 0.85 if i % 2 == 0 else 0.6) for i in range(count)]


def format_value(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_stale_age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


class LegendSample(pg.ItemSample):
    """Legend swatch drawn thicker than the width-1 curve so its colour is recognisable."""

    def paint(self, p, *args):
        if not self.item.isVisible():
            super().paint(p, *args)  # pyqtgraph's "hidden" eye
            return
        pen = pg.mkPen(self.item.opts["pen"])
        pen.setWidth(3)
        pen.setCapStyle(Qt.PenCapStyle.FlatCap)
        p.setPen(pen)
        p.drawLine(2, 11, 18, 11)


def fitted_range(bounds: list[tuple[float, float] | None],
                 padding: float) -> tuple[float, float] | None:
    """The y range that shows all `bounds`, widened by `padding` (a fraction of the
    span, as pyqtgraph's auto-range pads); None when there is nothing to fit.

    The ends are rounded outwards to a step of about 1/Y_RANGE_STEPS of the span, so
    that a new extreme a hair beyond the last one does not move the range: every move
    redraws the axis and re-measures every curve of the plot.
    """
    known = [b for b in bounds if b is not None]
    if not known:
        return None
    low = min(b[0] for b in known)
    high = max(b[1] for b in known)
    margin = (high - low) * padding
    low, high = low - margin, high + margin
    if not high > low:
        return low, high  # a flat line: the view keeps its scale around it
    step = nice_step((high - low) / Y_RANGE_STEPS)
    return math.floor(low / step) * step, math.ceil(high / step) * step


def nice_step(size: float) -> float:
    """The 1, 2 or 5 times a power of ten at or above `size` (> 0)."""
    power = 10.0 ** math.floor(math.log10(size))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= size)


def readout_html(heading: str, entries: list[tuple[str, str, float]], hidden: int,
                 rows_per_column: int, text_color: str, font_pt: float) -> str:
    """The crosshair box: `heading` (HTML), then (name, colour, value) rows in columns of
    `rows_per_column`, and a "+N lower" line when `hidden` curves were left out."""
    rows = [f"<span style='color:{color}'>&#9632;</span>"
            f"&nbsp;{html.escape(name)}&nbsp;<b>{format_value(value)}</b>"
            for name, color, value in entries]
    if hidden:
        rows.append(f"<i>+{hidden} lower</i>")
    if not rows:
        rows = ["no data here"]
    columns = math.ceil(len(rows) / rows_per_column)
    per_column = math.ceil(len(rows) / columns)
    cells = "".join("<td style='padding-right:8px'>"
                    + "<br>".join(rows[c * per_column:(c + 1) * per_column]) + "</td>"
                    for c in range(columns))
    return (f"<div style='color:{text_color}; font-size:{font_pt}pt'>{heading}"
            f"<table cellspacing='0'><tr>{cells}</tr></table></div>")


HOTTEST_COLOR = "#e4572e"  # the hottest servo: warm, apart from the red of critical lines
HOTTEST_WIDTH_PX = 2
SUBDUED_ALPHA = 70  # of 255: the other servos recede behind the hottest
LINE_STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine,
               Qt.PenStyle.DashDotLine)


@dataclass(frozen=True, slots=True)
class CurveStyle:
    color: QColor
    style: Qt.PenStyle = Qt.PenStyle.SolidLine
    width: int = 1


def curve_styles(keys: list, dark_background: bool,
                 hottest: frozenset = frozenset()) -> dict:
    """A style per SignalKey.  One robot: a colour per curve.  Several (an overlay): a
    colour per robot and a line style per signal, so "which robot" reads from the hue.
    With `hottest` keys (one per robot), those are drawn thick and the others faded."""
    robots = list(dict.fromkeys(key.robot_id for key in keys))
    signals = list(dict.fromkeys((key.measurement, key.field) for key in keys))
    overlay = len(robots) > 1
    palette = curve_colors(len(robots) if overlay else len(keys), dark_background)
    styles = {}
    for index, key in enumerate(keys):
        robot = robots.index(key.robot_id)
        color = QColor(palette[robot if overlay else index])
        style = (LINE_STYLES[signals.index((key.measurement, key.field)) % len(LINE_STYLES)]
                 if overlay else Qt.PenStyle.SolidLine)
        width = 1
        if hottest:
            if key in hottest:
                width = HOTTEST_WIDTH_PX
                if not overlay:
                    color = QColor(HOTTEST_COLOR)
            else:
                color.setAlpha(SUBDUED_ALPHA)
        styles[key] = CurveStyle(color, style, width)
    return styles


def legend_keys(keys: list, hottest: frozenset) -> tuple[list, dict]:
    """Which curves the legend lists and under what extra words.  An overlay of
    per-series signals (18 servos x robots) lists one entry per robot, plus its hottest
    one: dozens of same-coloured entries would only push the chart off the page."""
    robots = list(dict.fromkeys(key.robot_id for key in keys))
    if len(robots) <= 1 or not any(key.series for key in keys):
        return list(keys), {key: " (hottest)" for key in hottest}
    shown, labels = [], {}
    for robot in robots:
        own = [key for key in keys if key.robot_id == robot]
        for key in own:
            if key in hottest:
                shown.append(key)
                labels[key] = " (hottest)"
        others = [key for key in own if key not in hottest and key.series]
        if others:
            shown.append(others[0])
            labels[others[0]] = f"@{robot} {'other ' if hottest else ''}{others[0].measurement}"
        shown += [key for key in own if not key.series]
    return shown, labels
