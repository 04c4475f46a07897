"""One report chart: mean lines with their min/max bands on a clock-time axis, the alert
thresholds as dashed lines, and a note when the data covers only part of the range.

Lines are split where data is missing (a line across a gap would invent data); what
counts as missing follows the series' own spacing, so a battery sampled every 45 s in a
4-minute report (0.8 s buckets) is still one line rather than six invisible dots.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, Line, Polygon, Rect, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth

from services.reports.data import SignalData, gap_limit
from services.reports.timeaxis import coverage_text, time_ticks, zone_name
from services.vocabulary import BAND_ALPHA_FRACTION

logger = logging.getLogger(__name__)

CHART_WIDTH_PT, CHART_HEIGHT_PT = 170 * mm, 48 * mm
PLOT_X, PLOT_Y, LEGEND_WIDTH_PT, TOP_PT = 45.0, 30.0, 105.0, 20.0
GRID_COLOR = colors.HexColor("#dde2ea")
# No red or amber among the data colours: those two mean the alert thresholds.
SERIES_COLORS = (colors.HexColor("#1f77b4"), colors.HexColor("#7b3fb0"),
                 colors.HexColor("#2ca02c"), colors.HexColor("#8c564b"))
WARNING_COLOR, CRITICAL_COLOR = colors.HexColor("#e69500"), colors.HexColor("#d62020")
NOTE_COLOR = colors.HexColor("#8a4b00")
THRESHOLD_DASH = [4, 3]
MARKED_POINTS_MAX = 40  # up to this many points per series, each point gets a marker
MIN_AXIS_S = 60.0  # a lone sample still gets a minute of axis around it
LABEL_FONT = 6.5
TICK_FONT = 7


def split_runs(buckets: list, width_s: float) -> list[list]:
    limit = gap_limit(buckets, width_s)
    runs: list[list] = []
    for bucket in buckets:
        if runs and (bucket.start - runs[-1][-1].start).total_seconds() <= limit:
            runs[-1].append(bucket)
        else:
            runs.append([bucket])
    return runs


def _band(run: list, colour: colors.Color, to_x: Callable, to_y: Callable) -> Polygon | Line:
    """The min/max envelope of a run of buckets, so a one-sample spike stays visible."""
    band_colour = colors.Color(colour.red, colour.green, colour.blue, alpha=BAND_ALPHA_FRACTION)
    if len(run) == 1:  # a lone bucket has no width to fill: a bar from min to max
        x = to_x(run[0])
        return Line(x, to_y(run[0].min), x, to_y(run[0].max), strokeColor=band_colour,
                    strokeWidth=2)
    points: list[float] = []
    for bucket in run:
        points += [to_x(bucket), to_y(bucket.max)]
    for bucket in reversed(run):
        points += [to_x(bucket), to_y(bucket.min)]
    return Polygon(points, fillColor=band_colour, strokeColor=None, strokeWidth=0)


@dataclass(frozen=True)
class Extent:
    first: datetime  # start of the first bucket with data
    last: datetime  # end of the last one
    partial: bool  # the data leaves part of the requested range empty


def data_extent(signals: list[SignalData], start: datetime, stop: datetime) -> Extent:
    first = min(s.buckets[0].start for s in signals)
    last = min(max(s.buckets[-1].start + timedelta(seconds=s.width_s) for s in signals), stop)
    # Missing edges count as missing when they are longer than a gap inside the data.
    tolerance = timedelta(seconds=max(gap_limit(s.buckets, s.width_s) for s in signals))
    return Extent(first, last, first - start > tolerance or stop - last > tolerance)


def _axis_range(extent: Extent, start: datetime, stop: datetime, tz: tzinfo,
                width_pt: float) -> tuple[datetime, datetime]:
    """The requested range, or, when the data covers only part of it, the data's own span
    widened to round tick times (so that four minutes of data are not a dot on 24 h)."""
    if not extent.partial:
        return start, stop
    span = extent.last - extent.first
    pad = max(timedelta(0), (timedelta(seconds=MIN_AXIS_S) - span) / 2)
    first, last = max(start, extent.first - pad), min(stop, extent.last + pad)
    offset = first.astimezone(tz).utcoffset() or timedelta(0)
    epoch = datetime(1970, 1, 1, tzinfo=first.tzinfo)
    for _ in range(2):  # snapping widens the span, which may call for a longer step
        step = timedelta(seconds=time_ticks(first, last, tz, width_pt, TICK_FONT).step_s)
        first = max(start, epoch + ((first + offset - epoch) // step) * step - offset)
        last = min(stop, epoch - ((epoch - (last + offset)) // step) * step - offset)
    return first, last


def _y_range(signals: list[SignalData], unit: str) -> tuple[float, float]:
    if unit == "%":
        return 0.0, 100.0
    values = [s.stats.min for s in signals] + [s.stats.max for s in signals]
    values += [v for s in signals if s.threshold for v in (s.threshold.warning,
                                                           s.threshold.critical)]
    low, high = min(0.0, min(values)), max(values)
    top = high + abs(high) * 0.05 + 1  # headroom above it, also when it is below zero
    return float(low // 10 * 10), float(-(-top // 10) * 10)


def _threshold_marks(signals: list[SignalData], unit: str) -> list[tuple[float, str, str]]:
    """(value, level, label) per distinct threshold line; the signal's name is said only
    when the chart's signals disagree on that level."""
    limited = [s for s in signals if s.threshold is not None]
    marks: dict[tuple[str, float], list[SignalData]] = {}
    for signal in limited:
        for level in ("warning", "critical"):
            marks.setdefault((level, getattr(signal.threshold, level)), []).append(signal)
    result = []
    for (level, value), owners in marks.items():
        shared = len(owners) == len(limited)
        who = "" if shared else " and ".join(o.spec.label for o in owners) + " "
        if owners[0].threshold.low_is_bad:
            text = f"{who}{level} below {value:g} {unit}"
            if level == "warning":
                text = f"low is bad: {text}"
        else:
            text = f"{who}{level} {value:g} {unit}"
        result.append((value, level, text))
    return sorted(result)


def chart(title: str, signals: list[SignalData], unit: str, start: datetime, stop: datetime,
          tz: tzinfo, alerts: Sequence[tuple[datetime, str]] = ()) -> Drawing:
    """`signals` must all hold data (stats not None); times are shown in `tz`; `alerts`
    are (raised at, severity) of this chart's signals, marked where they were raised."""
    drawing = Drawing(CHART_WIDTH_PT, CHART_HEIGHT_PT)
    plot = LinePlot()
    plot.x, plot.y = PLOT_X, PLOT_Y
    plot.width = CHART_WIDTH_PT - PLOT_X - LEGEND_WIDTH_PT
    plot.height = CHART_HEIGHT_PT - PLOT_Y - TOP_PT
    extent = data_extent(signals, start, stop)
    axis_first, axis_last = _axis_range(extent, start, stop, tz, plot.width)
    axis_s = (axis_last - axis_first).total_seconds()
    y_min, y_max = _y_range(signals, unit)
    # Explicit bounds on both axes: the bands and thresholds are drawn outside the LinePlot
    # and must map values exactly as its axes do.
    plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = 0, axis_s
    plot.yValueAxis.valueMin, plot.yValueAxis.valueMax = y_min, y_max

    def seconds(bucket, width_s: float) -> float:  # mid-bucket: its mean is the whole bucket's
        return (bucket.start - axis_first).total_seconds() + width_s / 2

    def to_y(value: float) -> float:
        clamped = min(max(value, y_min), y_max)
        return plot.y + (clamped - y_min) / (y_max - y_min) * plot.height

    bands: list = []
    plot.data = []
    for index, signal in enumerate(signals):
        colour = SERIES_COLORS[index % len(SERIES_COLORS)]
        width_s = signal.width_s

        def to_x(bucket, width_s=width_s) -> float:
            return plot.x + seconds(bucket, width_s) / axis_s * plot.width

        marked = len(signal.buckets) <= MARKED_POINTS_MAX
        for run in split_runs(signal.buckets, width_s):
            bands.append(_band(run, colour, to_x, to_y))
            plot.data.append([(seconds(b, width_s), b.mean) for b in run])
            line = plot.lines[len(plot.data) - 1]
            line.strokeColor, line.strokeWidth, line.strokeDashArray = colour, 1, None
            if marked or len(run) == 1:  # a lone point draws no line: its marker shows it
                marker = makeMarker("FilledCircle")
                marker.size, marker.fillColor, marker.strokeColor = 3.5, colour, colour
                line.symbol = marker
    ticks = time_ticks(axis_first, axis_last, tz, plot.width, TICK_FONT)
    names = {round(pos, 3): text for pos, text in zip(ticks.positions, ticks.labels,
                                                      strict=True)}
    plot.xValueAxis.valueSteps = ticks.positions
    plot.xValueAxis.labelTextFormat = lambda value: names.get(round(value, 3), "")
    plot.xValueAxis.labels.fontSize = plot.yValueAxis.labels.fontSize = TICK_FONT
    plot.yValueAxis.labelTextFormat = "%g"
    plot.yValueAxis.visibleGrid = 1  # light grid lines to read a spike's height against
    plot.yValueAxis.gridStrokeColor = GRID_COLOR
    plot.yValueAxis.gridStrokeWidth = 0.25
    for band in bands:  # behind the plot: the mean lines stay on top
        drawing.add(band)
    # Thresholds and their labels behind the data too: a label may be crossed by a line,
    # but it never hides a sample.
    _add_thresholds(drawing, plot, _threshold_marks(signals, unit), to_y, y_min, y_max)
    drawing.add(plot)
    marked_alerts = _add_alert_markers(drawing, plot, alerts, axis_first, axis_s)
    drawing.add(String(plot.x, CHART_HEIGHT_PT - 11, title, fontName="Helvetica-Bold",
                       fontSize=9))
    if extent.partial:
        drawing.add(String(plot.x + plot.width, CHART_HEIGHT_PT - 11,
                           "Only part of the range: " + coverage_text(
                               extent.first, extent.last, start, stop, tz),
                           fontSize=7, textAnchor="end", fillColor=NOTE_COLOR))
    zone = zone_name(tz, axis_first)
    day = "" if ticks.multi_day else f" on {axis_first.astimezone(tz):%Y-%m-%d}"
    caption = f"time ({zone}){day}   line: mean, shading: min to max" + (
        "   triangles: alerts raised" if marked_alerts else "")
    drawing.add(String(plot.x + plot.width / 2, 4, caption, fontSize=7, textAnchor="middle"))
    drawing.add(String(12, plot.y + plot.height / 2, unit, fontSize=8, textAnchor="middle"))
    _add_legend(drawing, plot, signals)
    return drawing


def _add_thresholds(drawing: Drawing, plot: LinePlot, marks: list[tuple[float, str, str]],
                    to_y: Callable, y_min: float, y_max: float) -> None:
    """Dashed lines, each labelled at its right end: above the line, or below it when
    the label of the line above is in the way (70 and 75 on a 0-100 axis are 4 pt apart)."""
    shown = [(to_y(value), level, text) for value, level, text in marks
             if y_min <= value <= y_max]
    for y, level, _text in shown:  # every line before any label: no line crosses a label
        drawing.add(Line(plot.x, y, plot.x + plot.width, y, strokeColor=_colour(level),
                         strokeWidth=0.8, strokeDashArray=THRESHOLD_DASH))
    floor = plot.y + plot.height + 2  # the lowest free height for the next label's top
    for y, level, text in sorted(shown, reverse=True):
        base = y + 1.5
        if base + LABEL_FONT > floor:
            base = min(y - LABEL_FONT - 0.5, floor - LABEL_FONT - 1)
        floor = base - 1.5
        width = stringWidth(text, "Helvetica", LABEL_FONT)
        right = plot.x + plot.width - 2
        # A light box: the label stays legible over the grid and the bands.
        drawing.add(Rect(right - width - 1, base - 1.5, width + 2, LABEL_FONT + 1.5,
                         fillColor=colors.Color(1, 1, 1, alpha=0.8), strokeColor=None,
                         strokeWidth=0))
        drawing.add(String(right, base, text, fontSize=LABEL_FONT, textAnchor="end",
                           fillColor=_colour(level)))


def _add_alert_markers(drawing: Drawing, plot: LinePlot,
                       alerts: Sequence[tuple[datetime, str]], axis_first: datetime,
                       axis_s: float) -> int:
    """A thin line and a triangle on the top edge where each alert was raised; returns
    how many fell inside the axis."""
    marked = 0
    for raised_at, severity in alerts:
        offset = (raised_at - axis_first).total_seconds()
        if not 0 <= offset <= axis_s:
            continue
        x = plot.x + offset / axis_s * plot.width
        colour = _colour("critical" if severity == "critical" else "warning")
        top = plot.y + plot.height
        drawing.add(Line(x, plot.y, x, top, strokeColor=colour, strokeWidth=0.5,
                         strokeDashArray=[1, 2]))
        drawing.add(Polygon([x - 3, top + 5, x + 3, top + 5, x, top], fillColor=colour,
                            strokeColor=colour, strokeWidth=0.5))
        marked += 1
    return marked


def _colour(level: str) -> colors.Color:
    return WARNING_COLOR if level == "warning" else CRITICAL_COLOR


def _add_legend(drawing: Drawing, plot: LinePlot, signals: list[SignalData]) -> None:
    """One row per series with a line swatch (squares would outweigh one-point lines)."""
    x = plot.x + plot.width + 10
    y = plot.y + plot.height - 4
    for index, signal in enumerate(signals):
        colour = SERIES_COLORS[index % len(SERIES_COLORS)]
        drawing.add(Line(x, y + 2.5, x + 12, y + 2.5, strokeColor=colour, strokeWidth=1.5))
        drawing.add(String(x + 16, y, signal.spec.label, fontSize=7))
        y -= 10
