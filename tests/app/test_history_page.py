"""The History page against a real SqlHistoryStore and records database on SQLite."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from app.history_page import HistoryPage, signal_label
from services.alerts.engine import AlertChange
from services.alerts.store import AlertStore
from services.export import read_csv, read_json
from services.history.base import SeriesKey
from services.history.sql_store import SqlHistoryStore
from services.records.db import Database
from services.records.migrate import upgrade
from services.records.repositories import RobotRepository
from services.wire.model import Measurement, Sample

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
    yield page
    page.shutdown()


def show(qtbot, page: HistoryPage) -> None:
    page.select(["r1"], [("r1", CPU), ("r1", SERVO3)])
    page.set_custom_range(T0, T0 + SPAN)
    with qtbot.waitSignal(page.query_finished, timeout=WAIT_MS):
        page.show_button.click()


def test_lists_robots_and_their_signals(page):
    assert [page.robots.item(i).text() for i in range(page.robots.count())] == ["r1", "r2"]
    page.select(["r1"], [])
    labels = {page.signals.item(i).text() for i in range(page.signals.count())}
    assert labels == {"r1 performance.cpu_percent", "r1 servos.temperature servo 3"}


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
        page.plot._plot.setXRange(start.timestamp(), stop.timestamp(), padding=0)  # as a zoom
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
    page.select(["r1"], [("r1", CPU)])
    page.run_query(T0, T0 + SPAN, 500)
    assert page.is_busy()
    page.cancel_query()
    assert not page.is_busy()
    page._pool.waitForDone(WAIT_MS)
    qtbot.wait(100)  # let the queued result arrive; it must be dropped
    assert page.shown() is None and page.plot.series_keys() == []
    assert page.status.text() == "Query cancelled."


def test_superseded_query_is_ignored(qtbot, page):
    page.select(["r1"], [("r1", CPU)])
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


def test_preset_range_ends_now_and_custom_edits_follow_choice(page):
    page.range_choice.setCurrentText("Last 1 h")
    assert page.chosen_range() == (T0, T0 + SPAN)
    assert not page.from_edit.isEnabled()
    page.range_choice.setCurrentText("Custom…")
    assert page.from_edit.isEnabled() and page.from_edit.calendarPopup()
