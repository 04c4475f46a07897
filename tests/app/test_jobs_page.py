"""The Jobs page against a real SQLite records database, written the way ingest writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import Qt

from app.jobs_page import JobsPage
from services.records.db import Database
from services.records.migrate import upgrade
from services.records.repositories import JobRepository, RobotRepository
from services.wire.model import JobUpdate
from widgets.job_model import PROGRESS_ROLE, Column

WAIT_MS = 10_000


@pytest.fixture
def database(sqlite_url):
    upgrade(sqlite_url)
    db = Database(sqlite_url)
    now = datetime.now(UTC)
    with db.session() as session:
        for robot in ("tonypi_a", "tonypi_b"):
            RobotRepository(session).touch(robot, now)
    yield db
    db.dispose()


def apply(db, robot, update, at=None):
    with db.session() as session:
        return JobRepository(session).apply(robot, update, at or datetime.now(UTC)).id


@pytest.fixture
def page(qtbot, database):
    page = JobsPage(database)
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.jobs_loaded, timeout=WAIT_MS):
        page.start()
    yield page
    page.stop()


def refreshed(qtbot, page):
    with qtbot.waitSignal(page.jobs_loaded, timeout=WAIT_MS):
        page.refresh()


def test_active_job_shows_progress_then_moves_to_history(qtbot, database, page):
    start = datetime.now(UTC) - timedelta(minutes=5)
    apply(database, "tonypi_a", JobUpdate(status="active", started=True, job_key="j1",
                                          task_name="sort blocks", start_time=start,
                                          items_total=40), at=start)
    apply(database, "tonypi_a", JobUpdate(status="active", job_key="j1", items_done=10,
                                          last_item={"color": "red", "bin": 2}))
    refreshed(qtbot, page)
    model = page.active_model
    assert model.rowCount() == 1
    assert model.data(model.index(0, Column.PROGRESS)) == "10/40  25%"
    assert model.data(model.index(0, Column.PROGRESS), PROGRESS_ROLE) == (10, 40, 25.0)
    assert model.data(model.index(0, Column.REMAINING)).startswith("15:")  # 5 min * 30/10
    assert page.history_model.rowCount() == 0

    page.active_view.selectRow(0)
    assert "red" in page.details.toPlainText() and "10 of 40" in page.details.toPlainText()

    apply(database, "tonypi_a", JobUpdate(status="completed", job_key="j1", items_done=40))
    refreshed(qtbot, page)
    assert page.active_model.rowCount() == 0
    history = page.history_model
    assert history.rowCount() == 1
    assert history.data(history.index(0, Column.OUTCOME)) == "completed"
    assert history.data(history.index(0, Column.PROGRESS)) == "40/40  100%"


def test_history_filters_by_robot_status_and_date(qtbot, database, page):
    now = datetime.now(UTC)
    old = now - timedelta(days=60)
    apply(database, "tonypi_a", JobUpdate(status="completed", started=True, job_key="a1",
                                          start_time=now - timedelta(hours=1)))
    apply(database, "tonypi_b", JobUpdate(status="failed", started=True, job_key="b1",
                                          start_time=now - timedelta(hours=2),
                                          reason="battery low"))
    apply(database, "tonypi_b", JobUpdate(status="completed", started=True, job_key="b0",
                                          start_time=old), at=old)
    refreshed(qtbot, page)
    robots = lambda: sorted(r.robot_id for r in page.history_model.rows())  # noqa: E731
    assert robots() == ["tonypi_a", "tonypi_b"]  # the 60-day-old job is outside the range

    with qtbot.waitSignal(page.jobs_loaded, timeout=WAIT_MS):
        page.robot_filter.setCurrentText("tonypi_b")
    assert [r.reason for r in page.history_model.rows()] == ["battery low"]

    with qtbot.waitSignal(page.jobs_loaded, timeout=WAIT_MS):
        page.date_from.setDate(page.date_from.date().addDays(-60))
    assert len(page.history_model.rows()) == 2

    with qtbot.waitSignal(page.jobs_loaded, timeout=WAIT_MS):
        page.status_filter.setCurrentText("completed")
    assert [r.status for r in page.history_model.rows()] == ["completed"]
    assert page.history_model.rows()[0].start_time == old


def test_history_filters_reach_jobs_older_than_the_newest_shown(qtbot, monkeypatch, database,
                                                                page):
    monkeypatch.setattr("app.jobs_page.HISTORY_LIMIT", 5)
    now = datetime.now(UTC)
    old = now - timedelta(days=10)
    apply(database, "tonypi_b", JobUpdate(status="completed", started=True, job_key="old",
                                          start_time=old, task_name="old sort"), at=old)
    for i in range(8):
        start = now - timedelta(minutes=30 - i)
        apply(database, "tonypi_a", JobUpdate(status="completed", started=True,
                                              job_key=f"new{i}", start_time=start), at=start)
    refreshed(qtbot, page)
    assert len(page.history_model.rows()) == 5
    assert all(r.robot_id == "tonypi_a" for r in page.history_model.rows())

    # Only the old job started before five days ago; the newest five are all later.
    with qtbot.waitSignal(page.jobs_loaded, timeout=WAIT_MS):
        page.date_to.setDate(page.date_to.date().addDays(-5))
    assert [r.task_name for r in page.history_model.rows()] == ["old sort"]

    with qtbot.waitSignal(page.jobs_loaded, timeout=WAIT_MS):
        page.date_to.setDate(page.date_to.date().addDays(5))
    with qtbot.waitSignal(page.jobs_loaded, timeout=WAIT_MS):
        page.robot_filter.setCurrentText("tonypi_b")
    assert [r.task_name for r in page.history_model.rows()] == ["old sort"]
    with qtbot.waitSignal(page.jobs_loaded, timeout=WAIT_MS):
        page.status_filter.setCurrentText("failed")
    assert page.history_model.rows() == []


def test_robot_names_and_outcomes_fit_at_the_default_window_size(qtbot, database):
    """The Jobs tab inside a 1400x900 window: no clipped robot id, no horizontal scroll,
    and an outcome too long for its column is whole in its tooltip."""
    robot = "tonypi_raspberrypi_lab_07"
    with database.session() as session:
        RobotRepository(session).touch(robot, datetime.now(UTC))
    start = datetime.now(UTC) - timedelta(minutes=3)
    apply(database, robot, JobUpdate(status="active", started=True, job_key="j9",
                                     task_name="Inventory scan", start_time=start,
                                     items_total=6), at=start)
    reason = "gripper jam at station 4 after the third parcel; operator cleared it by hand"
    apply(database, robot, JobUpdate(status="failed", job_key="j9", items_done=3,
                                     reason=reason))
    page = JobsPage(database)
    qtbot.addWidget(page)
    page.resize(1400, 840)  # the window's default size less its tab bar and status bar
    page.show()
    qtbot.waitExposed(page)
    try:
        with qtbot.waitSignal(page.jobs_loaded, timeout=WAIT_MS):
            page.start()
        view = page.history_view
        metrics = view.fontMetrics()
        assert view.columnWidth(Column.ROBOT) > metrics.horizontalAdvance(robot)
        for column in (Column.STARTED, Column.ENDED):
            header = page.history_model.headerData(column, Qt.Orientation.Horizontal)
            assert view.columnWidth(column) > metrics.horizontalAdvance(header)
        qtbot.waitUntil(lambda: view.horizontalScrollBar().maximum() == 0, timeout=WAIT_MS)
        assert view.columnWidth(Column.OUTCOME) >= metrics.horizontalAdvance("failed: grip")
        outcome = page.history_model.index(0, Column.OUTCOME)
        assert outcome.data(Qt.ItemDataRole.ToolTipRole) == reason
        assert page.history_model.index(0, Column.ROBOT).data(
            Qt.ItemDataRole.ToolTipRole) == robot
    finally:
        page.stop()
