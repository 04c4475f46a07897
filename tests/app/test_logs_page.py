"""The Logs page against a real SQLite records database: filters, live follow, export."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtWidgets import QApplication

from app.logs_page import LogsPage, export_logs
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


def test_export_csv_and_json(tmp_path, page):
    rows = page.model.rows()
    with export_logs(rows, tmp_path / "logs.csv").open(newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert [r["message"] for r in exported] == messages(page)
    assert json.loads(exported[2]["details"]) == {"job": 1}
    assert exported[1]["level"] == "ERROR" and exported[1]["robot_id"] == "tonypi_a"
    data = json.loads(export_logs(rows, tmp_path / "logs.json").read_text())
    assert [r["message"] for r in data] == messages(page)
    assert datetime.fromisoformat(data[0]["timestamp"]).tzinfo is not None
