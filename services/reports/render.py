"""Lay a ReportData out as a PDF with reportlab (vector charts, tables, page header)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from xml.sax.saxutils import escape  # Paragraph text is markup

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as pdfcanvas
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.alerts.rules import METRICS
from services.reports.chart import chart, data_extent
from services.reports.data import ReportData, RobotData, SignalData, format_duration
from services.reports.timeaxis import coverage_text, zone_name

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
HOTTEST_SERVOS_CHARTED = 3
ALERT_ROWS_LISTED = 200  # the table is for reading, the counts cover every alert
JOB_ROWS_LISTED = 200
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


def _stamp(moment: datetime | None, tz: tzinfo = UTC) -> str:
    """A full date and time in the report's zone (its name is said once, in the title
    block, and by each chart's axis)."""
    return "-" if moment is None else moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


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


def _styled(rows: list[list[str]], numeric_from: int) -> Table:
    """A list table: text columns left, columns from `numeric_from` on right-aligned."""
    table = Table(rows, repeatRows=1, hAlign="LEFT")
    table.setStyle(TABLE_STYLE)
    table.setStyle(TableStyle([("ALIGN", (numeric_from, 1), (-1, -1), "RIGHT")]))
    return table


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _limit(signal: SignalData, level: str) -> str:
    if signal.threshold is None:
        return "off"
    value = getattr(signal.threshold, level)
    return f"below {value:g}" if signal.threshold.low_is_bad else f"{value:g}"


def _past(signal: SignalData, seconds: float) -> str:
    return "-" if signal.threshold is None else format_duration(seconds)


def _stats_table(signals: list[SignalData]) -> Table:
    rows = [["Signal", "Unit", "Min", "Mean", "Max", "P95", "Warning", "Critical",
             "Time past warning", "Time past critical"]]
    for signal in signals:
        s = signal.stats
        assert s is not None  # callers pass only signals with data
        rows.append([signal.spec.label, signal.spec.unit, _fmt(s.min), _fmt(s.mean),
                     _fmt(s.max), _fmt(s.p95), _limit(signal, "warning"),
                     _limit(signal, "critical"), _past(signal, s.above_warning_s),
                     _past(signal, s.above_critical_s)])
    return _styled(rows, 2)


def _coverage(robot: RobotData, data: ReportData, tz: tzinfo) -> str | None:
    """The sentence saying that this robot's data covers only part of the range."""
    with_data = [s for s in robot.signals if s.stats is not None]
    if not with_data:
        return None
    extent = data_extent(with_data, data.start, data.stop)
    if not extent.partial:
        return None
    covered = coverage_text(extent.first, extent.last, data.start, data.stop, tz)
    return (f"Only part of the range holds data: {covered} ({zone_name(tz, data.start)}). "
            "Statistics cover the data only; the charts are scaled to it.")


def _alerts_on(data: ReportData, robot_id: str, signals) -> list[tuple[datetime, str]]:
    """(raised at, severity) of this robot's alerts on these signals: the rule engine files
    a metric's alerts under its (alert_type, source); servo alerts carry the servo id."""
    found = []
    for row in data.alerts.rows:
        if row.robot_id != robot_id or row.raised_at is None:
            continue
        for signal in signals:
            metric = METRICS[signal.spec.metric_type]
            source = metric.source if metric.source is not None else signal.spec.key.series
            if row.alert_type == metric.alert_type and (not source or row.source == source):
                found.append((row.raised_at, row.severity))
                break
    return found


def _robot_flow(robot: RobotData, data: ReportData, sections: tuple[str, ...],
                styles, tz: tzinfo) -> tuple[list, list]:
    """(heading and coverage note, charts and table)."""
    head: list = [Paragraph(f"Robot {escape(robot.robot_id)}", styles["Heading2"])]
    note = _coverage(robot, data, tz)
    if note is not None:
        head.append(Paragraph(escape(note), styles["Normal"]))
        head.append(Spacer(1, 2 * mm))
    flow: list = []
    charted = False
    for group, title, unit in (("performance", "CPU and memory", "%"),
                               ("temperature", "CPU temperature", "°C"),
                               ("battery", "Battery", "%")):
        if group in sections and robot.group(group):
            signals = robot.group(group)
            flow += [chart(title, signals, unit, data.start, data.stop, tz,
                           _alerts_on(data, robot.robot_id, signals)), Spacer(1, 3 * mm)]
            charted = True
    servos = robot.group("servos")
    if "servos" in sections and servos:
        hottest = sorted(servos, key=lambda s: s.stats.max, reverse=True)
        charted_servos = hottest[:HOTTEST_SERVOS_CHARTED]
        flow += [chart("Hottest servos", charted_servos, "°C", data.start, data.stop, tz,
                       _alerts_on(data, robot.robot_id, charted_servos)), Spacer(1, 3 * mm)]
        charted = True
    if "statistics" in sections:
        shown = [s for s in robot.signals if s.stats is not None and s.spec.group in sections]
        if shown:
            flow += [Paragraph("Statistics", styles["Heading4"]), _stats_table(shown)]
        elif not charted:
            flow.append(Paragraph("No samples in this range.", styles["Normal"]))
    return head, flow


def _alerts_flow(data: ReportData, styles, tz: tzinfo) -> list:
    alerts = data.alerts
    flow: list = [Paragraph("Alerts", styles["Heading2"])]
    if alerts.scope is None:
        counted = "Every alert raised on these robots in the range."
    else:
        counted = ("Alerts on this report's signals only: "
                   f"{', '.join(alerts.scope) or 'none'}.")
    flow.append(Paragraph(escape(counted), styles["Normal"]))
    summary = [["Total alerts", str(alerts.total)]]
    summary += [[f"Severity {k}", str(v)] for k, v in sorted(alerts.by_severity.items())]
    summary += [[f"Type {k}", str(v)] for k, v in sorted(alerts.by_type.items())]
    summary += [["Acknowledged", str(alerts.acknowledged)],
                ["Mean time to acknowledge", format_duration(alerts.mean_ack_s)],
                ["Longest time to acknowledge", format_duration(alerts.max_ack_s)]]
    table = Table(summary, hAlign="LEFT")
    table.setStyle(TableStyle([("FONTSIZE", (0, 0), (-1, -1), 8),
                               ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b0b8c4")),
                               ("ALIGN", (1, 0), (1, -1), "RIGHT")]))
    flow += [Spacer(1, 2 * mm), table, Spacer(1, 3 * mm)]
    if alerts.rows:
        rows = [[f"Raised ({zone_name(tz, data.start)})", "Robot", "Severity", "Type", "Title",
                 "Acknowledged by", "After"]]
        rows += [[_stamp(r.raised_at, tz), r.robot_id or "-", r.severity, r.alert_type,
                  r.title[:40], r.acknowledged_by or "-", format_duration(r.ack_seconds)]
                 for r in alerts.rows[:ALERT_ROWS_LISTED]]
        flow.append(_styled(rows, 6))
    return flow


def _jobs_flow(data: ReportData, styles, tz: tzinfo) -> list:
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
        rows = [[f"Started ({zone_name(tz, data.start)})", "Robot", "Task", "Status",
                  "Duration", "Items"]]
        rows += [[_stamp(r.start_time, tz), r.robot_id, (r.task_name or "-")[:40], r.status or "-",
                  format_duration(r.duration_s), str(r.items_done)]
                 for r in jobs.rows[:JOB_ROWS_LISTED]]
        flow.append(_styled(rows, 4))
    return flow


def render_pdf(data: ReportData, out_path: str, title: TitleBlock,
               sections: tuple[str, ...], step: Callable[[float], None],
               tz: tzinfo = UTC) -> None:
    """Write the PDF; `step(fraction)` is called per robot and may raise to abort.
    Times are written in `tz`, whose name the title block and every chart state."""
    styles = getSampleStyleSheet()
    info = [["Lab", title.lab], ["Robots", ", ".join(data.robots)],
            ["Range", f"{_stamp(data.start, tz)}  to  {_stamp(data.stop, tz)}"],
            ["Time zone", f"all times in {zone_name(tz, data.start)}"],
            ["Author", title.author], ["Generated", _stamp(title.generated_at, tz)]]
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
            head, body = _robot_flow(robot, data, sections, styles, tz)
            flow.append(KeepTogether(head + body[:1]))  # never a heading alone at a page end
            flow += body[1:]
            step((index + 1) / max(1, len(data.robot_data)))
    if "alerts" in sections:
        flow += _alerts_flow(data, styles, tz)
    if "jobs" in sections:
        flow += _jobs_flow(data, styles, tz)
    document = SimpleDocTemplate(out_path, pagesize=A4, title=title.title, author=title.author,
                                 leftMargin=18 * mm, rightMargin=18 * mm,
                                 topMargin=20 * mm, bottomMargin=15 * mm)
    document.build(flow, canvasmaker=_make_canvas(f"{title.lab} - {title.title}"))
