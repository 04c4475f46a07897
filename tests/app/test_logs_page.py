"""The Logs page against a real SQLite records database: filters, live follow, export."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import QDate, QDateTime, QTime
from PySide6.QtWidgets import QApplication

from app.logs_page import LogsPage
from services.records.db import Database
from services.records.migrate import upgrade
from services.records.repositories import LogRepository, RobotRepository

WAIT_MS = 10_000


@pytest.fixture
def database(sqlite_url):
    upgrade(sqlite_url)
    db = Database(sqlite_url)
    now = datetime.now(UTC)
    with db.session() as session:
        RobotRepository(session).touch("tonypi_a", now)
        logs = LogRepository(session)
        logs.add("INFO", "robot", "job started", robot_id="tonypi_a",
                 timestamp=now - timedelta(minutes=3), details={"job": 1})
        logs.add("ERROR", "robot", "servo 3 overheated", robot_id="tonypi_a",
                 timestamp=now - timedelta(minutes=2))
        logs.add("WARNING", "mqtt", "broker reconnect", timestamp=now - timedelta(minutes=1))
        logs.add("INFO", "system", "ancient entry", timestamp=now - timedelta(days=3))
    yield db
    db.dispose()


@pytest.fixture
def page(qtbot, database):
    page = LogsPage(database)
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.start()
    yield page
    page.stop()


def messages(page):
    return [row.message for row in page.model.rows()]


def test_shows_last_24_h_newest_first(page):
    assert messages(page) == ["broker reconnect", "servo 3 overheated", "job started"]


def test_filters(qtbot, page):
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.level_filter.setCurrentText("ERROR")
    assert messages(page) == ["servo 3 overheated"]
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.level_filter.setCurrentText("All")
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.category_filter.setCurrentText("mqtt")
    assert messages(page) == ["broker reconnect"]
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.category_filter.setCurrentText("All")
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.robot_filter.setCurrentText("tonypi_a")
    assert messages(page) == ["servo 3 overheated", "job started"]
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.text_filter.setText("SERVO")
    assert messages(page) == ["servo 3 overheated"]
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.robot_filter.setCurrentText("All")
        page.text_filter.setText("")
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.time_filter.setCurrentText("Last 7 d")
    assert messages(page)[-1] == "ancient entry"


def test_new_entries_appear_live(qtbot, database, page):
    with database.session() as session:
        LogRepository(session).add("CRITICAL", "robot", "emergency stop", robot_id="tonypi_a")
    qtbot.waitUntil(lambda: messages(page)[:1] == ["emergency stop"], timeout=WAIT_MS)
    assert len(messages(page)) == 4


def test_copy_selected_rows(page):
    page.view.selectRow(1)
    text = page.copy_selected()
    assert "servo 3 overheated" in text and "ERROR" in text
    assert QApplication.clipboard().text() == text


def export(qtbot, page, path):
    """Export through the page (on its worker thread) and return the file written."""
    with qtbot.waitSignal(page.exported, timeout=WAIT_MS) as blocker:
        page.export_to(str(path))
    assert blocker.args == [str(path)]
    assert page.status_label.text() == f"Exported {len(messages(page))} entries to {path}"
    return path


def test_export_csv_and_json(qtbot, tmp_path, page):
    with export(qtbot, page, tmp_path / "logs.csv").open(newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert [r["message"] for r in exported] == messages(page)
    assert json.loads(exported[2]["details"]) == {"job": 1}
    assert exported[1]["level"] == "ERROR" and exported[1]["robot_id"] == "tonypi_a"
    data = json.loads(export(qtbot, page, tmp_path / "logs.json").read_text())
    assert [r["message"] for r in data] == messages(page)
    assert datetime.fromisoformat(data[0]["timestamp"]).tzinfo is not None


def test_export_failure_is_shown(qtbot, tmp_path, page):
    with qtbot.waitSignal(page.exported, timeout=WAIT_MS) as blocker:
        page.export_to(str(tmp_path / "no such folder" / "logs.csv"))
    assert blocker.args == [""]
    assert page.status_label.text().startswith("Export failed: ")


def test_custom_range_in_local_time(qtbot, page):
    assert page.custom_range.isHidden()
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.time_filter.setCurrentText("Custom")
    assert not page.custom_range.isHidden()
    assert page.date_from.calendarPopup() and page.date_to.calendarPopup()
    # The default custom range is the last 24 h, so the view does not jump.
    assert messages(page) == ["broker reconnect", "servo 3 overheated", "job started"]

    now = QDateTime.currentDateTime()
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.date_to.setDateTime(now.addDays(-2))
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.date_from.setDateTime(now.addDays(-4))
    assert messages(page) == ["ancient entry"]
    assert "following live" not in page.status_label.text()

    # Local wall-clock times on screen, aware UTC in the query; the To minute included.
    page.date_from.setDateTime(QDateTime(QDate(2026, 3, 1), QTime(8, 15, 42)))
    page.date_to.setDateTime(QDateTime(QDate(2026, 3, 2), QTime(9, 30)))
    wanted = page.current_filter()
    local = datetime(2026, 3, 1, 8, 15).astimezone()  # naive -> this machine's zone
    assert wanted.since == local.astimezone(UTC) and wanted.since.tzinfo is UTC
    assert wanted.until == datetime(2026, 3, 2, 9, 31).astimezone().astimezone(UTC)

    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.time_filter.setCurrentText("Last 24 h")
    assert page.custom_range.isHidden()
    assert page.current_filter().until is None
    assert messages(page) == ["broker reconnect", "servo 3 overheated", "job started"]


def test_from_after_to_shows_nothing_and_says_why(qtbot, page):
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.time_filter.setCurrentText("Custom")
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.date_from.setDateTime(page.date_to.dateTime().addDays(1))
    assert messages(page) == []
    assert "not before" in page.status_label.text()


def test_text_search_finds_entries_older_than_the_newest_loaded(qtbot, monkeypatch,
                                                                database, page):
    monkeypatch.setattr("app.logs_page.LOAD_LIMIT", 2)
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.time_filter.setCurrentText("All")
    assert messages(page) == ["broker reconnect", "servo 3 overheated"]
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.text_filter.setText("ANCIENT")
    assert messages(page) == ["ancient entry"]
    with database.session() as session:
        LogRepository(session).add("INFO", "system", "100% of 'ancient_x' done")
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.text_filter.setText("0% of 'ancient_")
    assert messages(page) == ["100% of 'ancient_x' done"]


def test_custom_range_starts_from_the_preset_just_shown(qtbot, page):
    page.date_from.setDateTime(QDateTime(QDate(2020, 1, 1), QTime(0, 0)))  # stale values
    page.date_to.setDateTime(QDateTime(QDate(2020, 1, 2), QTime(0, 0)))
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.time_filter.setCurrentText("Last 7 d")
    assert messages(page)[-1] == "ancient entry"
    with qtbot.waitSignal(page.logs_loaded, timeout=WAIT_MS):
        page.time_filter.setCurrentText("Custom")
    wanted = page.current_filter()
    assert abs(wanted.until - wanted.since - timedelta(days=7, minutes=1)) < timedelta(seconds=61)
    assert abs(wanted.until - datetime.now(UTC)) < timedelta(minutes=2)
    assert messages(page)[-1] == "ancient entry"
