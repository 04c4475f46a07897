"""The Reports page against a real SqlHistoryStore and records database on SQLite,
generating real PDFs (checked with pdftotext)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.reports_list import COLUMNS
from app.reports_page import ReportsPage
from services.history.sql_store import SqlHistoryStore
from services.records.db import Database
from services.records.migrate import upgrade
from services.records.repositories import RobotRepository
from services.wire.model import Measurement, Sample

WAIT_MS = 30_000
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SPAN = timedelta(hours=2)
ROBOT = "tonypi_07"


@pytest.fixture
def stores(tmp_path) -> Iterator[tuple[SqlHistoryStore, Database]]:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    upgrade(url)
    store = SqlHistoryStore(url)
    samples = []
    for i in range(0, int(SPAN.total_seconds()), 5):
        at = T0 + timedelta(seconds=i)
        samples.append(Sample(Measurement.PERFORMANCE, ROBOT, at,
                              {"cpu_percent": 20 + i % 50, "memory_percent": 40.0,
                               "cpu_temperature": 50 + i % 9}))
        samples.append(Sample(Measurement.BATTERY, ROBOT, at, {"percentage": 90 - i / 720}))
    store.write(samples)
    database = Database(url)
    with database.session() as session:
        RobotRepository(session).touch(ROBOT, T0)
    yield store, database
    store.close()
    database.dispose()


class Opener:
    """Records what the page asked to open instead of launching a viewer."""

    def __init__(self) -> None:
        self.paths: list[Path] = []

    def __call__(self, path: Path) -> bool:
        self.paths.append(path)
        return True


@pytest.fixture
def opener() -> Opener:
    return Opener()


@pytest.fixture
def page(qtbot, stores, opener, tmp_path) -> Iterator[ReportsPage]:
    store, database = stores
    page = ReportsPage(store, database, "alice", opener=opener)
    qtbot.addWidget(page)
    page.folder_edit.setText(str(tmp_path / "out"))
    page.select_robots([ROBOT])
    page.set_custom_range(T0, T0 + SPAN)
    yield page
    page.shutdown()


def listed(qtbot, page: ReportsPage) -> int:
    with qtbot.waitSignal(page.reports_listed, timeout=WAIT_MS):
        page.refresh()
    return page.model.rowCount()


def cell(page: ReportsPage, row: int, column: str) -> str:
    return page.model.data(page.model.index(row, COLUMNS.index(column)))


def generate(qtbot, page: ReportsPage) -> Path:
    return run_and_wait(qtbot, page, page.generate_button.click)


def run_and_wait(qtbot, page: ReportsPage, action) -> Path:
    """Run `action`, wait for the PDF and then for the list refresh that follows it."""
    paths: list[str] = []
    page.report_generated.connect(paths.append)
    with qtbot.waitSignal(page.report_generated, timeout=WAIT_MS):
        action()
    qtbot.waitUntil(lambda: page.model.rowCount() > 0 and any(
        cell(page, row, "File") == Path(paths[0]).name
        for row in range(page.model.rowCount())), timeout=WAIT_MS)
    page.report_generated.disconnect(paths.append)
    return Path(paths[0])


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
def test_generate_writes_pdf_records_row_and_opens_it(qtbot, page, opener, tmp_path):
    assert page.robots.count() == 1 and page.selected_robots() == [ROBOT]
    assert page.empty_state.shown_text().startswith("No reports recorded yet")
    page.kind_choice.setCurrentText("performance")
    path = generate(qtbot, page)

    assert path.is_file() and path.parent == tmp_path / "out"
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert ROBOT in text
    assert opener.paths == [path]
    assert page.progress.value() == page.progress.maximum()
    assert page.generate_button.isEnabled() and not page.cancel_button.isEnabled()

    assert page.model.rowCount() == 1 and page.empty_state.shown_text() == ""
    assert cell(page, 0, "Type") == "performance"
    assert cell(page, 0, "Robots") == ROBOT
    assert cell(page, 0, "Author") == "alice"
    assert cell(page, 0, "File") == path.name
    assert cell(page, 0, "Range").startswith(f"{T0.astimezone():%Y-%m-%d %H:%M}")


def test_cancel_during_generation_leaves_no_row_and_no_file(qtbot, page, opener, tmp_path):
    with qtbot.waitSignal(page.generation_cancelled, timeout=WAIT_MS):
        page.generate_button.click()
        assert page.cancel_button.isEnabled()
        page.cancel_button.click()  # the worker checks the event at its next step
    assert "cancelled" in page.status.text()
    assert listed(qtbot, page) == 0
    assert opener.paths == []
    assert not list((tmp_path / "out").glob("*.pdf"))
    assert page.generate_button.isEnabled()


def test_regenerate_creates_a_second_row_with_same_choices(qtbot, page, opener):
    page.kind_choice.setCurrentText("battery")
    first = generate(qtbot, page)
    page.kind_choice.setCurrentText("system")  # regenerate must not take the form's choice
    page.view.selectRow(0)
    second = run_and_wait(qtbot, page, page.regenerate_button.click)

    assert second != first and first.is_file() and second.is_file()
    assert page.model.rowCount() == 2
    assert [cell(page, row, "Type") for row in range(2)] == ["battery", "battery"]
    assert cell(page, 0, "Range") == cell(page, 1, "Range")
    assert cell(page, 0, "File") == second.name  # newest first
    assert opener.paths == [first, second]


def test_open_reopens_file_and_explains_a_deleted_one(qtbot, page, opener):
    path = generate(qtbot, page)
    page.view.selectRow(0)
    page.open_button.click()
    assert opener.paths == [path, path]

    path.unlink()
    with qtbot.waitSignal(page.message_shown, timeout=WAIT_MS) as blocker:
        page.open_button.click()
    assert "no longer exists" in blocker.args[0] and str(path) in blocker.args[0]
    assert "no longer exists" in page.status.text()
    assert opener.paths == [path, path]


def test_generate_without_robots_says_so(qtbot, page, opener):
    page.select_robots([])
    page.generate_button.click()
    assert "at least one robot" in page.status.text()
    assert not page.is_busy() and opener.paths == []
