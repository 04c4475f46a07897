"""Lay a ReportData out as a PDF with reportlab (vector charts, tables, page header)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape  # Paragraph text is markup

from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, Line, Polygon, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as pdfcanvas
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.history.base import Bucket, bucket_width_us
from services.reports.data import (
    BUCKETS_PER_SIGNAL,
    ReportData,
    RobotData,
    SignalData,
    format_duration,
)

logger = logging.getLogger(__name__)

# Which sections each report type holds (custom: the caller chooses, all by default).
SECTIONS = ("performance", "temperature", "battery", "servos", "statistics", "alerts", "jobs")
KIND_SECTIONS: dict[str, tuple[str, ...]] = {
    "performance": ("performance", "temperature", "servos", "statistics", "alerts"),
    "battery": ("battery", "statistics", "alerts"),
    "job": ("jobs",),
    "system": SECTIONS,
    "custom": SECTIONS,
}
CHART_WIDTH_PT, CHART_HEIGHT_PT = 170 * mm, 46 * mm
HOTTEST_SERVOS_CHARTED = 3
ALERT_ROWS_LISTED = 200  # the table is for reading, the counts cover every alert
JOB_ROWS_LISTED = 200
GRID_COLOR = colors.HexColor("#dde2ea")
HOUR_STEPS = (0.25, 0.5, 1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720)
BAND_ALPHA = 0.25  # as on the History page: the band is context, the mean line the reading
SERIES_COLORS = (colors.HexColor("#1f77b4"), colors.HexColor("#d62728"),
                 colors.HexColor("#2ca02c"), colors.HexColor("#ff7f0e"))
TABLE_STYLE = TableStyle([
    ("FONTSIZE", (0, 0), (-1, -1), 8),
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6ecf5")),
    ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
    ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b0b8c4")),
    ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f6f8fb")]),
])


@dataclass(frozen=True)
class TitleBlock:
    title: str
    lab: str
    author: str
    generated_at: datetime


def _stamp(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _make_canvas(header: str) -> type[pdfcanvas.Canvas]:
    class NumberedCanvas(pdfcanvas.Canvas):
        """Defers each page until the end so that 'page N of M' knows M."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._decorate(total)
                super().showPage()
            super().save()

        def _decorate(self, total: int) -> None:
            width, height = A4
            self.setFont("Helvetica", 8)
            self.setFillColor(colors.HexColor("#555555"))
            self.drawString(18 * mm, height - 12 * mm, header)
            self.drawRightString(width - 18 * mm, height - 12 * mm,
                                 f"page {self._pageNumber} of {total}")
            self.setStrokeColor(colors.HexColor("#b0b8c4"))
            self.line(18 * mm, height - 14 * mm, width - 18 * mm, height - 14 * mm)

    return NumberedCanvas


def _runs(buckets: list[Bucket], width_s: float) -> list[list[Bucket]]:
    """Split at empty buckets (the store omits them): a line across a gap would invent data."""
    runs: list[list[Bucket]] = []
    for bucket in buckets:
        if runs and (bucket.start - runs[-1][-1].start).total_seconds() <= width_s * 1.5:
            runs[-1].append(bucket)
        else:
            runs.append([bucket])
    return runs


def _band(run: list[Bucket], colour: colors.Color, to_x: Callable[[Bucket], float],
          to_y: Callable[[float], float]) -> Polygon | Line:
    """The min/max envelope of a run of buckets, so a one-sample spike stays visible."""
    band_colour = colors.Color(colour.red, colour.green, colour.blue, alpha=BAND_ALPHA)
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


def _hour_step(span_h: float) -> float:
    """A tick step that people count in (quarter hours, 3 h, a day...), at most 8 ticks."""
    return next((step for step in HOUR_STEPS if span_h / step <= 8), span_h / 8)


def _chart(title: str, signals: list[SignalData], unit: str, start: datetime,
           stop: datetime) -> Drawing:
    span_h = (stop - start).total_seconds() / 3600.0
    width_s = bucket_width_us(start, stop, BUCKETS_PER_SIGNAL) / 1e6
    drawing = Drawing(CHART_WIDTH_PT, CHART_HEIGHT_PT)
    plot = LinePlot()
    plot.x, plot.y = 45, 30
    plot.width, plot.height = CHART_WIDTH_PT - 150, CHART_HEIGHT_PT - 50
    lows = [s.stats.min for s in signals if s.stats]
    highs = [s.stats.max for s in signals if s.stats]
    # Explicit bounds on both axes: the bands are drawn outside the LinePlot and must map
    # values exactly as its axes do.
    y_min, y_max = 0.0, 100.0
    if unit != "%" and lows:
        top = max(highs)  # headroom above it, also when it is below zero
        y_min, y_max = min(0.0, min(lows)), top + abs(top) * 0.1 + 1
    plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = 0, span_h
    plot.yValueAxis.valueMin, plot.yValueAxis.valueMax = y_min, y_max

    def hours(bucket: Bucket) -> float:  # mid-bucket: the mean belongs to the whole bucket
        return ((bucket.start - start).total_seconds() + width_s / 2) / 3600.0

    def to_x(bucket: Bucket) -> float:
        return plot.x + hours(bucket) / span_h * plot.width

    def to_y(value: float) -> float:
        clamped = min(max(value, y_min), y_max)
        return plot.y + (clamped - y_min) / (y_max - y_min) * plot.height

    bands: list = []
    plot.data = []
    for index, signal in enumerate(signals):
        colour = SERIES_COLORS[index % len(SERIES_COLORS)]
        for run in _runs(signal.buckets, width_s):
            bands.append(_band(run, colour, to_x, to_y))
            # A lone point draws no line: its band bar shows it.
            plot.data.append([(hours(b), b.mean) for b in run])
            plot.lines[len(plot.data) - 1].strokeColor = colour
            plot.lines[len(plot.data) - 1].strokeWidth = 1
    plot.xValueAxis.labels.fontSize = plot.yValueAxis.labels.fontSize = 7
    plot.xValueAxis.valueStep = _hour_step(span_h)
    # Light grid lines to read a spike's height against.
    plot.yValueAxis.visibleGrid = 1
    plot.yValueAxis.gridStrokeColor = GRID_COLOR
    plot.yValueAxis.gridStrokeWidth = 0.25
    plot.xValueAxis.labelTextFormat = plot.yValueAxis.labelTextFormat = "%g"
    for band in bands:  # behind the plot: the mean lines stay on top
        drawing.add(band)
    drawing.add(plot)
    drawing.add(String(plot.x, CHART_HEIGHT_PT - 12, title, fontName="Helvetica-Bold",
                       fontSize=9))
    caption = f"hours since {_stamp(start)}   (line: mean, shading: min to max)"
    drawing.add(String(plot.x + plot.width / 2, 6, caption, fontSize=7, textAnchor="middle"))
    drawing.add(String(12, plot.y + plot.height / 2, unit, fontSize=8, textAnchor="middle"))
    legend = Legend()
    legend.x, legend.y = plot.x + plot.width + 12, plot.y + plot.height
    legend.fontSize, legend.alignment = 7, "right"
    legend.dx = legend.dy = 6  # small swatches: the default squares outweigh the lines
    legend.deltay = 10
    legend.colorNamePairs = [(SERIES_COLORS[i % len(SERIES_COLORS)], s.spec.label)
                             for i, s in enumerate(signals)]
    legend.columnMaximum = len(signals)  # one column: a second one runs off the page
    drawing.add(legend)
    return drawing


def _styled(rows: list[list[str]], numeric_from: int) -> Table:
    """A list table: text columns left, columns from `numeric_from` on right-aligned."""
    table = Table(rows, repeatRows=1, hAlign="LEFT")
    table.setStyle(TABLE_STYLE)
    table.setStyle(TableStyle([("ALIGN", (numeric_from, 1), (-1, -1), "RIGHT")]))
    return table


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _stats_table(signals: list[SignalData]) -> Table:
    rows = [["Signal", "Unit", "Min", "Mean", "Max", "P95", "Warn/Crit",
             "> warning", "> critical"]]
    for signal in signals:
        s = signal.stats
        assert s is not None  # callers pass only signals with data
        rows.append([signal.spec.label, signal.spec.unit, _fmt(s.min), _fmt(s.mean),
                     _fmt(s.max), _fmt(s.p95), f"{s.warning:g}/{s.critical:g}",
                     format_duration(s.above_warning_s), format_duration(s.above_critical_s)])
    return _styled(rows, 2)


def _robot_flow(robot: RobotData, data: ReportData, sections: tuple[str, ...],
                styles) -> list:
    flow: list = [Paragraph(f"Robot {escape(robot.robot_id)}", styles["Heading2"])]
    charted = False
    for group, title, unit in (("performance", "CPU and memory", "%"),
                               ("temperature", "CPU temperature", "°C"),
                               ("battery", "Battery", "%")):
        if group in sections and robot.group(group):
            flow += [_chart(title, robot.group(group), unit, data.start, data.stop),
                     Spacer(1, 3 * mm)]
            charted = True
    servos = robot.group("servos")
    if "servos" in sections and servos:
        hottest = sorted(servos, key=lambda s: s.stats.max, reverse=True)
        flow += [_chart("Hottest servos", hottest[:HOTTEST_SERVOS_CHARTED], "°C", data.start,
                        data.stop), Spacer(1, 3 * mm)]
        charted = True
    if "statistics" in sections:
        shown = [s for s in robot.signals if s.stats is not None and (
            s.spec.group in sections or (s.spec.group == "battery" and "battery" in sections))]
        if shown:
            flow += [Paragraph("Statistics", styles["Heading4"]), _stats_table(shown)]
        elif not charted:
            flow.append(Paragraph("No samples in this range.", styles["Normal"]))
    return flow


def _alerts_flow(data: ReportData, styles) -> list:
    alerts = data.alerts
    flow: list = [Paragraph("Alerts", styles["Heading2"])]
    summary = [["Total alerts", str(len(alerts.rows))]]
    summary += [[f"Severity {k}", str(v)] for k, v in sorted(alerts.by_severity.items())]
    summary += [[f"Type {k}", str(v)] for k, v in sorted(alerts.by_type.items())]
    summary += [["Acknowledged", str(alerts.acknowledged)],
                ["Mean time to acknowledge", format_duration(alerts.mean_ack_s)],
                ["Longest time to acknowledge", format_duration(alerts.max_ack_s)]]
    table = Table(summary, hAlign="LEFT")
    table.setStyle(TableStyle([("FONTSIZE", (0, 0), (-1, -1), 8),
                               ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b0b8c4")),
                               ("ALIGN", (1, 0), (1, -1), "RIGHT")]))
    flow += [table, Spacer(1, 3 * mm)]
    if alerts.rows:
        rows = [["Raised", "Robot", "Severity", "Type", "Title", "Acknowledged by", "After"]]
        rows += [[_stamp(r.raised_at), r.robot_id or "-", r.severity, r.alert_type,
                  r.title[:40], r.acknowledged_by or "-", format_duration(r.ack_seconds)]
                 for r in alerts.rows[:ALERT_ROWS_LISTED]]
        flow.append(_styled(rows, 6))
    return flow


def _jobs_flow(data: ReportData, styles) -> list:
    jobs = data.jobs
    rate = "-" if jobs.success_rate is None else f"{jobs.success_rate * 100:.1f} %"
    per_hour = "-" if jobs.items_per_hour is None else f"{jobs.items_per_hour:.1f}"
    summary = [["Jobs", str(len(jobs.rows))]]
    summary += [[f"Status {k}", str(v)] for k, v in sorted(jobs.by_status.items())]
    summary += [["Success rate", rate], ["Mean duration", format_duration(jobs.mean_duration_s)],
                ["Longest duration", format_duration(jobs.max_duration_s)],
                ["Items per hour", per_hour]]
    table = Table(summary, hAlign="LEFT")
    table.setStyle(TableStyle([("FONTSIZE", (0, 0), (-1, -1), 8),
                               ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b0b8c4")),
                               ("ALIGN", (1, 0), (1, -1), "RIGHT")]))
    flow: list = [Paragraph("Jobs", styles["Heading2"]), table, Spacer(1, 3 * mm)]
    if jobs.rows:
        rows = [["Started", "Robot", "Task", "Status", "Duration", "Items"]]
        rows += [[_stamp(r.start_time), r.robot_id, (r.task_name or "-")[:40], r.status or "-",
                  format_duration(r.duration_s), str(r.items_done)]
                 for r in jobs.rows[:JOB_ROWS_LISTED]]
        flow.append(_styled(rows, 4))
    return flow


def render_pdf(data: ReportData, out_path: str, title: TitleBlock,
               sections: tuple[str, ...], step: Callable[[float], None]) -> None:
    """Write the PDF; `step(fraction)` is called per robot and may raise to abort."""
    styles = getSampleStyleSheet()
    info = [["Lab", title.lab], ["Robots", ", ".join(data.robots)],
            ["Range", f"{_stamp(data.start)}  to  {_stamp(data.stop)}"],
            ["Author", title.author], ["Generated", _stamp(title.generated_at)]]
    # Paragraphs wrap: ten robot ids do not fit on one line.
    info = [[label, Paragraph(escape(value), styles["Normal"])] for label, value in info]
    info_table = Table(info, colWidths=[30 * mm, 140 * mm], hAlign="LEFT")
    info_table.setStyle(TableStyle([("FONTSIZE", (0, 0), (-1, -1), 9),
                                    ("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold"),
                                    ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    flow: list = [Paragraph(escape(title.title), styles["Title"]), info_table, Spacer(1, 4 * mm)]
    signal_sections = {"performance", "temperature", "battery", "servos", "statistics"}
    if signal_sections & set(sections):
        for index, robot in enumerate(data.robot_data):
            robot_flow = _robot_flow(robot, data, sections, styles)
            flow.append(KeepTogether(robot_flow[:2]))  # never a heading alone at a page end
            flow += robot_flow[2:]
            step((index + 1) / max(1, len(data.robot_data)))
    if "alerts" in sections:
        flow += _alerts_flow(data, styles)
    if "jobs" in sections:
        flow += _jobs_flow(data, styles)
    document = SimpleDocTemplate(out_path, pagesize=A4, title=title.title, author=title.author,
                                 leftMargin=18 * mm, rightMargin=18 * mm,
                                 topMargin=20 * mm, bottomMargin=15 * mm)
    document.build(flow, canvasmaker=_make_canvas(f"{title.lab} - {title.title}"))
