"""Reports generated from known samples, alerts and jobs, read back with pdftotext."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtGui import QColor, QImage
from reportlab.graphics import renderPDF
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Line, Polygon
from sqlalchemy import select

from services.history.base import Bucket, SeriesKey
from services.history.sql_store import SqlHistoryStore
from services.records.db import Database
from services.records.migrate import upgrade
from services.records.models import Alert, Job, Report
from services.records.repositories import RobotRepository
from services.reports import ReportCancelled, generate_report
from services.reports.chart import chart
from services.reports.data import (
    SignalData,
    SignalSpec,
    alert_scope,
    gather,
    gather_alerts,
    signal_stats,
)
from services.wire.model import Measurement, Sample

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
STEP_S = 10
COUNT = 360  # one hour at one sample per 10 s


def _samples(robot_id: str) -> list[Sample]:
    samples = []
    for i in range(COUNT):
        moment = T0 + timedelta(seconds=i * STEP_S)
        samples.append(Sample(Measurement.PERFORMANCE, robot_id, moment, {
            "cpu_percent": float(i % 10 * 10),  # 0..90, mean 45
            "memory_percent": 30.0 + i % 5,  # 30..34, mean 32
            "cpu_temperature": 55.5}))
        samples.append(Sample(Measurement.BATTERY, robot_id, moment,
                              {"percentage": 100.0 - i * 0.1}))  # 64.1..100, mean 82.05
        for servo, temp in (("1", 35.0), ("2", 48.25)):
            samples.append(Sample(Measurement.SERVOS, robot_id, moment, {"temperature": temp},
                                  tags={"servo_id": servo}))
    return samples


@pytest.fixture(params=["sqlite_url", "pg_url"])
def db_url(request) -> str:
    """Each report test runs on SQLite (the demo) and on real PostgreSQL (a lab server)."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def stores(db_url):
    upgrade(db_url)
    database = Database(db_url)
    history = SqlHistoryStore(db_url)  # the migration creates the samples tables too
    yield history, database
    history.close()
    database.dispose()


@pytest.fixture
def stack(stores):
    history, database = stores
    history.write(_samples("r1"))
    with database.session() as session:
        RobotRepository(session).touch("r1", T0)
        session.add_all([
            Alert(robot_id="r1", alert_type="performance", severity="warning", title="CPU",
                  message="cpu high", source="cpu", created_at=T0 + timedelta(minutes=1),
                  acknowledged=True, acknowledged_by="alice",
                  acknowledged_at=T0 + timedelta(minutes=3), resolved=True),
            Alert(robot_id="r1", alert_type="performance", severity="warning", title="CPU",
                  message="cpu high", source="cpu", created_at=T0 + timedelta(minutes=20),
                  resolved=True),
            Alert(robot_id="r1", alert_type="battery", severity="critical", title="Battery",
                  message="low", source="battery", created_at=T0 + timedelta(minutes=50)),
            Alert(robot_id="r1", alert_type="battery", severity="critical", title="Outside",
                  message="before the range", source="battery2",
                  created_at=T0 - timedelta(hours=2), resolved=True),
        ])
        for minute, length, status, items in ((5, 10, "completed", 20),
                                              (20, 10, "completed", 10),
                                              (40, 5, "failed", 5)):
            session.add(Job(robot_id="r1", start_time=T0 + timedelta(minutes=minute),
                            end_time=T0 + timedelta(minutes=minute + length), status=status,
                            items_done=items, items_total=20, task_name=f"sort-{minute}"))
    return history, database


def _text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


def _row(text: str, label: str) -> list[str]:
    # The table row, not a chart legend entry or threshold label ("CPU usage warning 70 %")
    # with the same label: values follow it, not words.
    def is_row(line: str) -> bool:
        rest = line.split()[len(label.split()):]
        return line.strip().startswith(label) and bool(rest) and not rest[0].isalpha()
    return next(line for line in text.splitlines() if is_row(line)).split()


@pytest.mark.parametrize("kind", ["performance", "battery", "system", "custom"])
def test_statistics_in_pdf(stack, tmp_path, kind):
    history, database = stack
    fractions: list[float] = []
    result = generate_report(kind, ["r1"], T0, T1, history=history, database=database,
                             author="bob", out_path=tmp_path / f"{kind}.pdf",
                             progress=fractions.append)
    text = _text(result.path)
    assert "TonyPi lab" in text and "bob" in text and "2026-11-20 08:00" in text
    assert "all times in UTC" in text
    pages = re.findall(r"page (\d+) of (\d+)", text)
    assert pages and all(total == pages[-1][1] for _, total in pages)
    assert [int(n) for n, _ in pages] == list(range(1, len(pages) + 1))
    if kind == "performance":
        assert "Battery level" not in text
    else:
        assert _row(text, "Battery level")[3:6] in (["64.1", "82.0", "100.0"],
                                                    ["64.1", "82.1", "100.0"])  # mean 82.05
    if kind != "battery":
        assert _row(text, "CPU usage")[3:6] == ["0.0", "45.0", "90.0"]
        assert _row(text, "Memory usage")[3:6] == ["30.0", "32.0", "34.0"]
        assert _row(text, "Servo 2 temperature")[4:7] == ["48.2", "48.2", "48.2"] or \
            _row(text, "Servo 2 temperature")[4:7] == ["48.3", "48.3", "48.3"]
    else:
        assert "CPU usage" not in text
    # Only the report's signals: the CPU alerts are not a battery report's, nor the other way.
    total, warnings, criticals = {"performance": (2, 2, 0), "battery": (1, 0, 1)}.get(
        kind, (3, 2, 1))
    assert _row(text, "Total alerts")[-1] == str(total)
    assert result.summary["alerts"]["total"] == total
    assert ("Severity warning" in text) == bool(warnings)
    assert ("Severity critical" in text) == bool(criticals)
    if warnings:
        assert _row(text, "Severity warning")[-1] == str(warnings)
        assert _row(text, "Type performance")[-1] == "2"
        assert _row(text, "Mean time to acknowledge")[-1] == "0:02:00"
        assert "alice" in text
    if criticals:
        assert _row(text, "Severity critical")[-1] == "1"
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_job_report(stack, tmp_path):
    history, database = stack
    result = generate_report("job", ["r1"], T0, T1, history=history, database=database,
                             author="bob", out_path=tmp_path / "job.pdf")
    text = _text(result.path)
    assert _row(text, "Jobs")[-1] == "3"
    assert _row(text, "Status completed")[-1] == "2"
    assert _row(text, "Success rate")[-2:] == ["66.7", "%"]
    assert _row(text, "Mean duration")[-1] == "0:08:20"
    assert _row(text, "Items per hour")[-1] == "84.0"  # 35 items in 25 minutes
    assert "Statistics" not in text and "Alerts" not in text
    assert result.summary["jobs"]["total"] == 3


def test_report_row_recorded(stack, tmp_path):
    history, database = stack
    result = generate_report("system", ["r1"], T0, T1, history=history, database=database,
                             author="bob", out_path=tmp_path / "sys.pdf")
    with database.session() as session:
        row = session.scalar(select(Report).where(Report.id == result.report_id))
        assert row.report_type == "system" and row.robot_id == "r1"
        assert row.created_by == "bob" and row.file_path == str(result.path.resolve())
        stats = json.loads(json.dumps(row.data))["statistics"]["r1"]["CPU usage"]
        assert stats["min"] == 0.0 and stats["max"] == 90.0 and stats["mean"] == 45.0


def test_several_robots_record_null_robot(stack, tmp_path):
    history, database = stack
    result = generate_report("performance", ["r1", "gh<o>st&1"], T0, T1, history=history,
                             database=database, author="bob", out_path=tmp_path / "two.pdf")
    assert "Robot gh<o>st&1" in _text(result.path)
    with database.session() as session:
        row = session.get(Report, result.report_id)
        assert row.robot_id is None and row.data["robots"] == ["r1", "gh<o>st&1"]


def test_cancel_leaves_nothing(stack, tmp_path):
    history, database = stack
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 2

    out = tmp_path / "cancelled.pdf"
    with pytest.raises(ReportCancelled):
        generate_report("system", ["r1"], T0, T1, history=history, database=database,
                        author="bob", out_path=out, cancel=cancel)
    assert not out.exists()
    with database.session() as session:
        assert session.scalars(select(Report)).all() == []


def test_custom_sections_and_bad_input(stack, tmp_path):
    history, database = stack
    result = generate_report("custom", ["r1"], T0, T1, history=history, database=database,
                             author="bob", out_path=tmp_path / "c.pdf", sections=("jobs",))
    text = _text(result.path)
    assert "Success rate" in text and "CPU usage" not in text and "Total alerts" not in text
    with pytest.raises(ValueError):
        generate_report("weekly", ["r1"], T0, T1, history=history, database=database,
                        author="bob", out_path=tmp_path / "x.pdf")
    with pytest.raises(ValueError):
        generate_report("system", ["r1"], T1, T0, history=history, database=database,
                        author="bob", out_path=tmp_path / "x.pdf")


def _chart(title, signals, unit, start, stop):
    return chart(title, signals, unit, start, stop, UTC)


def _chart_parts(drawing):
    plot = next(item for item in drawing.contents if isinstance(item, LinePlot))
    renderPDF.drawToString(drawing)  # lays the axes out, as in the report
    bands = [item for item in drawing.contents if isinstance(item, Polygon) or (
        isinstance(item, Line) and not item.strokeDashArray  # dashed: a threshold
        and item.x1 == item.x2 and plot.x < item.x1)]  # vertical: not a legend swatch
    return plot, bands


def test_band_shows_a_spike_the_means_hide(stores):
    history, database = stores
    spike_at = T0 + timedelta(minutes=30)
    # One sample every 2 s: ~6 per 12 s bucket, so the spike's bucket mean stays low.
    history.write([Sample(Measurement.PERFORMANCE, "r1", T0 + timedelta(seconds=2 * i),
                          {"cpu_percent": 95.0 if T0 + timedelta(seconds=2 * i) == spike_at
                           else 20.0}) for i in range(1800)])
    data = gather(["r1"], T0, T1, history=history, database=database)
    cpu = [s for s in data.robot_data[0].group("performance") if s.spec.label == "CPU usage"]
    assert cpu[0].stats.max == 95.0
    drawing = _chart("CPU", cpu, "%", T0, T1)
    plot, bands = _chart_parts(drawing)
    assert max(mean for line in plot.data for _, mean in line) < 40  # the line hides it
    spike_y, base_y = plot.yValueAxis.scale(95.0), plot.yValueAxis.scale(20.0)
    assert len(bands) == 1 and isinstance(bands[0], Polygon)
    band_ys = bands[0].points[1::2]
    assert max(band_ys) == pytest.approx(spike_y) and min(band_ys) == pytest.approx(base_y)
    # Behind the mean line, in its hue but translucent.
    assert drawing.contents.index(bands[0]) < drawing.contents.index(plot)
    line_colour = plot.lines[0].strokeColor
    assert bands[0].fillColor.rgb() == line_colour.rgb() and bands[0].fillColor.alpha < 0.5


def test_gap_splits_line_and_band(stores):
    history, database = stores
    lone = T0 + timedelta(minutes=50)  # one bucket alone between empty ones
    history.write([Sample(Measurement.PERFORMANCE, "r1", moment, {"cpu_percent": value})
                   for moment, value in [(T0 + timedelta(seconds=2 * i), 20.0 + i % 2)
                                         for i in range(300)] + [(lone, 10.0),
                                                                 (lone + timedelta(seconds=1),
                                                                  70.0)]])
    data = gather(["r1"], T0, T1, history=history, database=database)
    plot, bands = _chart_parts(_chart("CPU", data.robot_data[0].group("performance"), "%",
                                      T0, T1))
    assert len(plot.data) == 2  # no line drawn across the empty 40 minutes
    assert isinstance(bands[0], Polygon) and isinstance(bands[1], Line)
    assert (bands[1].y1, bands[1].y2) == pytest.approx((plot.yValueAxis.scale(10.0),
                                                        plot.yValueAxis.scale(70.0)))


def test_axis_fits_values_below_zero():
    # -10 is where the old "max * 1.1 + 1" headroom left an empty (zero-height) axis.
    buckets = [Bucket(T0 + timedelta(minutes=m), -10.0, -10.0, -10.0, 1) for m in range(3)]
    stats = signal_stats(buckets, 12.0, 70.0, 80.0)
    spec = SignalSpec(SeriesKey("performance", "cpu_temperature"), "CPU temperature", "°C",
                      "temperature", "temperature")
    plot, bands = _chart_parts(_chart("T", [SignalData(spec, buckets, stats)], "°C", T0, T1))
    low, high = plot.yValueAxis.valueMin, plot.yValueAxis.valueMax
    assert low <= -10.0 < high
    # One sample a minute in 12 s buckets is one line (a run), not three lone points.
    assert len(plot.data) == 1 and isinstance(bands[0], Polygon)
    assert all(plot.y <= y <= plot.y + plot.height for y in bands[0].points[1::2])


# A 4-minute report whose battery reports every 45 s: six samples, 32 % down to 4.6 %,
# in buckets of 0.8 s (240 s / 300).  It used to draw nothing: every bucket was a "gap".
DAY = datetime(2026, 12, 6, tzinfo=UTC)
FEW_T0 = DAY + timedelta(hours=4, minutes=10)
FEW_T1 = FEW_T0 + timedelta(minutes=4)
BATTERY_LEVELS = (32.0, 25.1, 18.3, 12.0, 7.9, 4.6)


def _few_samples(history) -> None:
    history.write([Sample(Measurement.BATTERY, "r1", FEW_T0 + timedelta(seconds=45 * i + 2),
                          {"percentage": level}) for i, level in enumerate(BATTERY_LEVELS)])
    history.write([Sample(Measurement.PERFORMANCE, "r1", FEW_T0 + timedelta(seconds=5 * i),
                          {"cpu_percent": 40.0 + i % 7, "memory_percent": 50.0,
                           "cpu_temperature": 61.0}) for i in range(48)])


def _ink_in_plot(drawing, plot, tmp_path, colour) -> list[int]:
    """x pixel columns inside the plot area holding `colour`, from the rendered chart."""
    pdf = tmp_path / "chart.pdf"
    renderPDF.drawToFile(drawing, str(pdf))
    subprocess.run(["pdftoppm", "-png", "-r", "144", "-singlefile", str(pdf),
                    str(tmp_path / "chart")], check=True)
    image = QImage(str(tmp_path / "chart.png"))
    scale = 144 / 72
    target = (round(colour.red * 255), round(colour.green * 255), round(colour.blue * 255))
    columns = []
    # Inside the axes by 2 px, so that axis lines and tick marks are not counted.
    top = image.height() - round((plot.y + plot.height) * scale) + 2
    bottom = image.height() - round(plot.y * scale) - 2
    for x in range(round(plot.x * scale) + 2, round((plot.x + plot.width) * scale) - 2):
        for y in range(top, bottom):
            pixel = QColor(image.pixel(x, y))
            if all(abs(a - b) <= 40 for a, b in zip((pixel.red(), pixel.green(),
                                                      pixel.blue()), target, strict=True)):
                columns.append(x)
                break
    return columns


def test_few_samples_draw_a_line_with_markers(stores, tmp_path):
    history, database = stores
    _few_samples(history)
    data = gather(["r1"], FEW_T0, FEW_T1, history=history, database=database)
    battery = data.robot_data[0].group("battery")
    assert battery[0].stats.min == 4.6 and battery[0].stats.max == 32.0
    # Below 20 % from the third sample on: four 45 s intervals, not four 0.8 s buckets.
    assert battery[0].stats.above_warning_s == pytest.approx(180, abs=5)
    drawing = _chart("Battery", battery, "%", FEW_T0, FEW_T1)
    plot, _bands = _chart_parts(drawing)
    assert len(plot.data) == 1 and len(plot.data[0]) == len(BATTERY_LEVELS)
    assert plot.lines[0].symbol is not None and plot.lines[0].strokeDashArray is None
    columns = _ink_in_plot(drawing, plot, tmp_path, plot.lines[0].strokeColor)
    # The line runs from the first sample (04:10:02) to the last (04:13:47): most of the
    # plot's width, without holes.
    assert len(columns) > 0.8 * plot.width * 2
    assert max(b - a for a, b in zip(columns, columns[1:], strict=False)) <= 2


def test_clock_axis_thresholds_and_zone_in_pdf(stores, tmp_path):
    history, database = stores
    _few_samples(history)
    result = generate_report("system", ["r1"], FEW_T0, FEW_T1, history=history,
                             database=database, author="bob", out_path=tmp_path / "few.pdf")
    text = _text(result.path)
    assert "hours since" not in text
    for tick in ("04:10:00", "04:11:00", "04:12:00", "04:13:00", "04:14:00"):
        assert tick in text
    assert "time (UTC) on 2026-12-06" in text
    assert "low is bad: warning below 20 %" in text and "critical below 10 %" in text
    assert "critical 90 %" in text and "CPU usage warning 70 %" in text
    assert "Memory usage warning 75 %" in text and "warning 70 °C" in text
    assert "Only part of the range" not in text  # the data fills the 4 minutes
    berlin = generate_report("system", ["r1"], FEW_T0, FEW_T1, history=history,
                             database=database, author="bob", out_path=tmp_path / "b.pdf",
                             tz=ZoneInfo("Europe/Berlin"))
    text = _text(berlin.path)
    assert "Europe/Berlin (CET, UTC+01:00)" in text and "05:10:00" in text


def test_day_axis_reads_00_to_24(stack, tmp_path):
    history, database = stack
    result = generate_report("performance", ["r1"], T0.replace(hour=0), T0.replace(hour=0) +
                             timedelta(days=1), history=history, database=database,
                             author="bob", out_path=tmp_path / "day.pdf")
    text = _text(result.path)
    # The data (08:00-09:00) covers only part of the day: said, and the axis is scaled to it.
    assert "data from 08:00 to 09:00 of the requested 00:00-24:00" in text
    assert "08:00" in text and "08:30" in text and "03:00" not in text
    # Statistics still exact over the data.
    assert _row(text, "CPU usage")[3:6] == ["0.0", "45.0", "90.0"]


def test_partial_coverage_is_said_and_drawn_at_full_resolution(stores, tmp_path):
    history, database = stores
    _few_samples(history)
    start, stop = DAY, DAY + timedelta(days=1)
    data = gather(["r1"], start, stop, history=history, database=database)
    cpu = [s for s in data.robot_data[0].signals if s.spec.label == "CPU usage"][0]
    # Re-queried over its own 4 minutes: one bucket per sample, not one for all of them.
    assert len(cpu.buckets) == 48 and cpu.stats.samples == 48
    drawing = _chart("CPU", [cpu], "%", start, stop)
    plot, _bands = _chart_parts(drawing)
    assert plot.xValueAxis.valueMax <= 5 * 60  # seconds: the data's minutes, not 24 h
    result = generate_report("battery", ["r1"], start, stop, history=history,
                             database=database, author="bob", out_path=tmp_path / "p.pdf")
    words = _text(result.path).split()
    assert "data from 04:10 to 04:14 of the requested 00:00-24:00" in " ".join(words)
    assert "04:12:00" in words and "12:00" not in words and "18:00" not in words


def test_alert_scope_matches_type_and_source(stores):
    history, database = stores
    with database.session() as session:
        RobotRepository(session).touch("r1", T0)
        for alert_type, source in (("performance", "cpu"), ("performance", "disk"),
                                   ("temperature", "cpu_temperature"), ("servo", "servo_3"),
                                   ("battery", "battery"), ("network", "connectivity")):
            session.add(Alert(robot_id="r1", alert_type=alert_type, severity="warning",
                              title=source, message="m", source=source,
                              created_at=T0 + timedelta(minutes=1)))
    scope = alert_scope({"performance", "temperature", "servos"})
    counted = gather_alerts(database, ["r1"], T0, T1, scope)
    assert counted.total == 3 and sorted(r.title for r in counted.rows) == [
        "cpu", "cpu_temperature", "servo_3"]  # memory has none; disk is not charted
    assert gather_alerts(database, ["r1"], T0, T1, alert_scope({"battery"})).total == 1
    assert alert_scope({"performance", "temperature", "servos", "battery"}) is None
    assert gather_alerts(database, ["r1"], T0, T1, None).total == 6


def test_alerts_are_marked_on_the_chart_of_their_signal(stores, tmp_path):
    """A battery alert gets a marker on the battery chart, where it was raised, and on no
    other chart; the caption says what the marks mean."""
    history, database = stores
    _few_samples(history)
    raised = FEW_T0 + timedelta(minutes=2)
    with database.session() as session:
        RobotRepository(session).touch("r1", FEW_T0)
        session.add(Alert(robot_id="r1", alert_type="battery", severity="critical",
                          title="Battery level critical", message="m", source="battery",
                          created_at=raised))
    result = generate_report("system", ["r1"], FEW_T0, FEW_T1, history=history,
                             database=database, author="bob", out_path=tmp_path / "a.pdf")
    assert _text(result.path).count("triangles: alerts raised") == 1
    data = gather(["r1"], FEW_T0, FEW_T1, history=history, database=database)
    battery = data.robot_data[0].group("battery")
    marked = chart("Battery", battery, "%", FEW_T0, FEW_T1, UTC,
                   [(raised, "critical")])
    plot = next(item for item in marked.contents if isinstance(item, LinePlot))
    triangles = [item for item in marked.contents if isinstance(item, Polygon)
                 and len(item.points) == 6]
    (triangle,) = triangles
    tip_x = triangle.points[4]
    halfway = plot.x + plot.width * 0.5  # 04:12 of 04:10-04:14
    assert abs(tip_x - halfway) < plot.width * 0.05
