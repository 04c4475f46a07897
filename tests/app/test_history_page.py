"""The History page against a real SqlHistoryStore and records database on SQLite."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette

from app.history_page import HistoryPage, signal_label
from services.alerts.engine import AlertChange
from services.alerts.store import AlertStore
from services.export import read_csv, read_json
from services.history.base import SeriesKey
from services.history.sql_store import SqlHistoryStore
from services.records.db import Database
from services.records.migrate import upgrade
from services.records.repositories import RobotRepository, ThresholdRepository
from services.wire.model import Measurement, Sample
from widgets.time_range import local_zone_name

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SPAN = timedelta(hours=1)
WAIT_MS = 10_000
CPU = SeriesKey("performance", "cpu_percent")
SERVO3 = SeriesKey("servos", "temperature", "3")
ALERT_AT = T0 + timedelta(minutes=30)


def cpu_value(i: int) -> float:
    return 20 + 10 * math.sin(i / 60) + (50 if i == 1234 else 0)  # one spike


@pytest.fixture
def stores(tmp_path) -> Iterator[tuple[SqlHistoryStore, Database]]:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    upgrade(url)
    store = SqlHistoryStore(url)
    samples = []
    for i in range(0, int(SPAN.total_seconds()), 2):
        at = T0 + timedelta(seconds=i)
        samples.append(Sample(Measurement.PERFORMANCE, "r1", at, {"cpu_percent": cpu_value(i)}))
        samples.append(Sample(Measurement.SERVOS, "r1", at, {"temperature": 40 + i % 7},
                              tags={"servo_id": "3"}))
    samples.append(Sample(Measurement.PERFORMANCE, "r2", T0, {"cpu_percent": 5.0}))
    store.write(samples)
    database = Database(url)
    with database.session() as session:
        RobotRepository(session).touch("r1", T0)
        AlertStore(session).apply(AlertChange(
            kind="raised", robot_id="r1", alert_type="performance", source="cpu_percent",
            severity="warning", value=70.0, threshold=60.0, title="CPU high",
            message="cpu 70", at=ALERT_AT, details={}))
    yield store, database
    store.close()
    database.dispose()


@pytest.fixture
def page(qtbot, stores) -> Iterator[HistoryPage]:
    store, database = stores
    page = HistoryPage(store, database, clock=lambda: T0 + SPAN)
    qtbot.addWidget(page)
    page.resize(1300, 700)
    page.show()
    qtbot.waitExposed(page)
    qtbot.waitUntil(lambda: len(page.signal_tree.keys()) == 3, timeout=WAIT_MS)
    yield page
    page.shutdown()


def show(qtbot, page: HistoryPage) -> None:
    page.select([("r1", CPU), ("r1", SERVO3)])
    page.set_custom_range(T0, T0 + SPAN)
    with qtbot.waitSignal(page.query_finished, timeout=WAIT_MS):
        page.show_button.click()


def test_before_the_first_query_the_chart_says_what_to_do(page):
    assert page.plot.message().startswith("Nothing shown yet")
    start, stop = page.time_range.chosen()
    low, high = page.plot.x_range()
    assert abs(low - start.timestamp()) < 5 and abs(high - stop.timestamp()) < 5


def test_tree_lists_robots_measurements_and_signals(page):
    tree = page.signal_tree
    assert set(tree.keys()) == {("r1", CPU), ("r1", SERVO3), ("r2", CPU)}
    robots = [tree.tree.topLevelItem(i).text(0) for i in range(tree.tree.topLevelItemCount())]
    assert robots == ["r1", "r2"]
    assert tree.leaf_text(("r1", SERVO3)) == "temperature · servo 3"
    assert tree.leaf_tooltip(("r1", SERVO3)) == "r1 servos.temperature servo 3 (°C)"


def test_shown_series_equal_store_query(qtbot, page, stores):
    store, _ = stores
    show(qtbot, page)
    width = page.shown().max_points  # the plot's pixel width when the query started
    assert width > 300
    for key in (CPU, SERVO3):
        expected = store.query("r1", key.measurement, key.field, T0, T0 + SPAN, width, key.series)
        assert 0 < len(expected) <= width
        times, mins, means, maxs = page.plot.series_data(signal_label("r1", key))
        np.testing.assert_array_equal(times, [b.start.timestamp() for b in expected])
        np.testing.assert_array_equal(mins, [b.min for b in expected])
        np.testing.assert_array_equal(means, [b.mean for b in expected])
        np.testing.assert_array_equal(maxs, [b.max for b in expected])
    _, _, _, maxs = page.plot.series_data(signal_label("r1", CPU))
    assert maxs.max() == pytest.approx(cpu_value(1234))  # the spike survives downsampling
    assert page.plot.x_range() == pytest.approx((T0.timestamp(), (T0 + SPAN).timestamp()))


def test_alert_marker_is_drawn(qtbot, page):
    show(qtbot, page)
    markers = page.plot.markers()
    assert [position for position, _ in markers] == [ALERT_AT.timestamp()]
    assert "CPU high" in markers[0][1]


def test_zoom_requeries_narrower_range(qtbot, page, stores):
    store, _ = stores
    show(qtbot, page)
    coarse = len(page.plot.series_data(signal_label("r1", CPU))[0])
    start, stop = T0 + timedelta(minutes=10), T0 + timedelta(minutes=15)
    with qtbot.waitSignal(page.plot.range_changed, timeout=WAIT_MS) as changed:
        page.plot.zoom_x(start, stop)
    low, high, width = changed.args
    assert high - low == pytest.approx(300, abs=1)
    with qtbot.waitSignal(page.query_finished, timeout=WAIT_MS):
        pass
    shown = page.shown()
    assert shown.stop - shown.start < timedelta(minutes=6)
    expected = store.query("r1", "performance", "cpu_percent", shown.start, shown.stop, width)
    times = page.plot.series_data(signal_label("r1", CPU))[0]
    np.testing.assert_array_equal(times, [b.start.timestamp() for b in expected])
    assert len(times) >= 140 and len(times) != coarse  # 2 s samples over 5 min: finer


def test_cancelled_query_result_is_ignored(qtbot, page):
    page.select([("r1", CPU)])
    page.run_query(T0, T0 + SPAN, 500)
    assert page.is_busy()
    page.cancel_query()
    assert not page.is_busy()
    page._pool.waitForDone(WAIT_MS)
    qtbot.wait(100)  # let the queued result arrive; it must be dropped
    assert page.shown() is None and page.plot.series_keys() == []
    assert page.status.text() == "Query cancelled."


def test_superseded_query_is_ignored(qtbot, page):
    page.select([("r1", CPU)])
    page.run_query(T0, T0 + SPAN, 500)
    with qtbot.waitSignal(page.query_finished, timeout=WAIT_MS):
        page.run_query(T0, T0 + timedelta(minutes=1), 500)
    page._pool.waitForDone(WAIT_MS)
    qtbot.wait(100)
    assert page.shown().stop == T0 + timedelta(minutes=1)


def test_export_shown_and_raw(qtbot, page, tmp_path, stores):
    store, _ = stores
    show(qtbot, page)
    shown_rows = sum(len(b) for _, _, b in page.shown().buckets.values())
    csv_path = str(tmp_path / "shown.csv")
    assert page.export_shown(csv_path, "csv") == shown_rows
    rows = read_csv(csv_path)
    assert len(rows) == shown_rows and {r.series for r in rows} == {"", "3"}

    json_path = str(tmp_path / "raw.json")
    with qtbot.waitSignal(page.export_finished, timeout=WAIT_MS) as done:
        page.export_raw(json_path, "json")
    assert done.args == [json_path, 2 * 1800]  # both signals, one 1 s bucket per sample
    meta, raw = read_json(json_path)
    assert meta["resolution"] == "1 s" and len(raw) == 3600
    cpu = [r for r in raw if r.field == "cpu_percent"]
    assert cpu[617].time == T0 + timedelta(seconds=1234)
    assert cpu[617].max == pytest.approx(cpu_value(1234)) and cpu[617].count == 1
    assert json.loads(open(json_path).read())["metadata"]["start"] == "2026-03-01T12:00:00Z"


def edit_time(edit) -> datetime:
    return datetime.fromtimestamp(edit.dateTime().toSecsSinceEpoch(), UTC)


def test_preset_fills_from_and_to(page):
    page.range_choice.setCurrentText("Last 1 h")
    assert (edit_time(page.from_edit), edit_time(page.to_edit)) == (T0, T0 + SPAN)
    assert page.chosen_range() == (T0, T0 + SPAN)
    page.range_choice.setCurrentText("Last 7 d")
    assert edit_time(page.from_edit) == T0 + SPAN - timedelta(days=7)
    assert edit_time(page.to_edit) == T0 + SPAN
    assert page.from_edit.isEnabled() and page.from_edit.calendarPopup()


def test_editing_from_switches_to_custom(qtbot, page):
    page.range_choice.setCurrentText("Last 1 h")
    page.from_edit.setFocus()
    page.from_edit.setSelectedSection(page.from_edit.Section.HourSection)
    qtbot.keyClick(page.from_edit, Qt.Key.Key_Down)  # the operator steps the hour back
    assert page.range_choice.currentText() == "Custom…"
    assert page.chosen_range() == (T0 - timedelta(hours=1), T0 + SPAN)


def test_zone_is_named(page, monkeypatch):
    assert page.time_range.zone_label.text() == f"Times in {local_zone_name(T0)}"
    try:
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()
        assert local_zone_name(T0) == "UTC"
        monkeypatch.setenv("TZ", "Europe/Berlin")
        time.tzset()
        assert local_zone_name(T0) == "local time, CET (UTC+01:00)"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_tree_filter_narrows_the_signals_and_keeps_checks(page):
    tree = page.signal_tree
    page.select([("r1", CPU)])
    tree.set_filter("servo")
    assert tree.visible_keys() == [("r1", SERVO3)]
    assert tree.tree.topLevelItem(1).isHidden()  # r2 has no servo: its branch goes
    tree.set_filter("R2 cpu")  # every word, any case
    assert tree.visible_keys() == [("r2", CPU)]
    assert page.selected_signals() == [("r1", CPU)]  # hidden, still checked
    tree.set_filter("")
    assert len(tree.visible_keys()) == 3


def test_two_units_make_two_axes(qtbot, page):
    show(qtbot, page)
    assert page.plot.units() == ["%", "°C"]
    assert [page.plot.axis_label(unit) for unit in ("%", "°C")] == ["%", "°C"]
    low, high = page.plot.y_range("°C")  # servo 40..46 °C, not stretched to the CPU's 80 %
    assert 38 < low < 40 and 46 < high < 48


def test_empty_range_says_no_data(qtbot, page):
    page.select([("r1", CPU)])
    page.set_custom_range(T0 - timedelta(days=2), T0 - timedelta(days=1))
    with qtbot.waitSignal(page.query_finished, timeout=WAIT_MS):
        page.show_button.click()
    assert page.plot.message().startswith("No data in this range")
    assert page.plot.units() == [] and page.plot.series_keys() == []
    assert not page.fit_button.isEnabled()
    assert page.plot.x_range() == pytest.approx(((T0 - timedelta(days=2)).timestamp(),
                                                 (T0 - timedelta(days=1)).timestamp()), abs=1)
    show(qtbot, page)  # data again: the message goes
    assert page.plot.message() == ""


def test_fit_scales_to_the_data_range(qtbot, page):
    page.select([("r1", CPU)])
    page.set_custom_range(T0 - timedelta(hours=2), T0 + SPAN + timedelta(hours=3))
    with qtbot.waitSignal(page.query_finished, timeout=WAIT_MS):
        page.show_button.click()
    # the data covers a sixth of the range: fitted, then re-queried at the finer resolution
    with qtbot.waitSignal(page.query_finished, timeout=WAIT_MS):
        pass
    shown = page.shown()
    assert abs(shown.start - T0) < timedelta(minutes=2)
    assert abs(shown.stop - (T0 + SPAN)) < timedelta(minutes=2)
    _, mins, _, maxs = page.plot.series_data(signal_label("r1", CPU))
    low, high = page.plot.y_range("%")
    assert mins.min() - 5 < low < mins.min() and maxs.max() < high < maxs.max() + 5
    # the operator zooms out far; Fit brings the data back
    page.plot._panels["%"].setYRange(-500, 500, padding=0)
    page.plot.set_x_range(T0 - timedelta(days=3), T0 + timedelta(days=3))
    page.fit_button.click()
    assert page.plot.y_range("%") == pytest.approx((low, high), abs=1)
    x_low, x_high = page.plot.x_range()
    assert abs(x_low - T0.timestamp()) < 120 and abs(x_high - (T0 + SPAN).timestamp()) < 120


def test_threshold_lines_for_a_cpu_signal(qtbot, page, stores):
    show(qtbot, page)  # seeded globals: cpu 70/90, servo_temp 60/75; one metric per axis
    assert page.plot.thresholds("%") == [(70, "warning"), (90, "critical")]
    assert page.plot.thresholds("°C") == [(60, "warning"), (75, "critical")]
    # servo data is 40..46 °C: the fitted view leaves the lines out, and says so
    assert page.plot.threshold_hint("°C") == "warning 60 °C above; critical 75 °C above"
    assert page.plot.threshold_hint("%") == "critical 90 % above"  # the CPU peaks near 80
    _, database = stores
    with database.session() as session:
        ThresholdRepository(session).set("cpu", 50, 60, robot_id="r1")
    page.select([("r1", CPU), ("r2", CPU)])  # r1's own limits differ from r2's: no line
    with qtbot.waitSignal(page.query_finished, timeout=WAIT_MS):
        page.show_button.click()
    assert page.plot.thresholds("%") == []
    page.select([("r1", CPU)])
    with qtbot.waitSignal(page.query_finished, timeout=WAIT_MS):
        page.show_button.click()
    assert page.plot.thresholds("%") == [(50, "warning"), (60, "critical")]


def test_long_marker_labels_are_elided_with_a_tooltip(qtbot, page, stores):
    _, database = stores
    title = "Servo 3 temperature critical on the left ankle of the robot"
    with database.session() as session:
        AlertStore(session).apply(AlertChange(
            kind="raised", robot_id="r1", alert_type="servo", source="servo_3",
            severity="critical", value=80.0, threshold=75.0, title=title,
            message="servo hot", at=T0 + timedelta(minutes=55), details={}))
    show(qtbot, page)
    labels = dict(page.plot.marker_labels())
    long = next(text for text in labels if "Servo 3" in text)
    assert long.endswith("…") and len(long) <= 36 and title in labels[long]


def test_plot_follows_a_dark_palette(qtbot, page):
    show(qtbot, page)
    dark = QPalette(page.palette())
    dark.setColor(QPalette.ColorRole.Base, QColor("#17181a"))
    dark.setColor(QPalette.ColorRole.Window, QColor("#202124"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#e8eaed"))
    page.setPalette(dark)
    qtbot.wait(50)
    image = page.plot.grab().toImage()
    corner = image.pixelColor(image.width() - 5, 5)
    assert corner.lightnessF() < 0.2  # the chart background, not white
