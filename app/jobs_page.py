"""The console's Jobs page: running jobs with live progress bars on top, the job history
with filters below, and the details of the selected job.

The records database is read every 2 s on a worker thread (app.background); results come back to
the GUI thread through a queued signal, so a slow server never freezes the window.

    page = install_jobs_page(window, database=db)
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from PySide6.QtCore import QDate, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.background import BackgroundWork
from services.records.queries import HISTORY_STATUSES, JobFilter, JobQueries
from widgets.job_model import (
    Column,
    JobRow,
    JobTableModel,
    ProgressDelegate,
    format_duration,
    full_time,
)

logger = logging.getLogger(__name__)

REFRESH_INTERVAL_MS = 2000
CELL_PADDING_PX = 24  # Fusion's cell margins plus a little air
ROBOT_COLUMN_MAX_PX = 240  # longer ids are elided; the tooltip has them whole
# The widest text each column usually shows: columns are sized from the font, not pixels.
COLUMN_SAMPLES = {Column.ROBOT: "tonypi_demo_01", Column.TASK: "Inventory scan",
                  Column.STATUS: "cancelled", Column.PROGRESS: "100/100  100%",
                  Column.ELAPSED: "0:00:00", Column.REMAINING: "0:00:00",
                  Column.STARTED: "Nov 22 10:15", Column.ENDED: "Nov 22 10:15"}
HISTORY_LIMIT = 500
ALL = "All"


@dataclass(frozen=True, slots=True)
class JobSnapshot:
    active: list[JobRow]
    history: list[JobRow]
    robots: list[str]


def job_row(job) -> JobRow:
    return JobRow(id=job.id, robot_id=job.robot_id, task_name=job.task_name,
                  status=job.status or "active", start_time=job.start_time,
                  end_time=job.end_time, items_total=job.items_total,
                  items_done=job.items_done, percent_complete=job.percent_complete,
                  last_item=job.last_item, reason=job.reason)


def load_jobs(database, wanted: JobFilter) -> JobSnapshot:
    """Active jobs and the filtered history (newest first); runs on a worker thread."""
    read = JobQueries(database).read(wanted, limit=HISTORY_LIMIT)
    return JobSnapshot(active=[job_row(job) for job in read.active],
                       history=[job_row(job) for job in read.history], robots=read.robots)


def describe_job(row: JobRow, now: datetime) -> str:
    """The details pane's text for one job."""
    items = (f"{row.items_done or 0} of {row.items_total}" if row.items_total
             else f"{row.items_done or 0}")
    percent = row.percent()
    lines = [f"Job {row.id} on {row.robot_id}: {row.task_name or '(no task name)'}",
             f"Status: {row.status}",
             f"Items: {items}" + ("" if percent is None else f" ({percent:.0f}%)"),
             f"Started: {full_time(row.start_time)}",
             f"Ended: {full_time(row.end_time)}" if row.end_time else "Ended: (running)",
             f"Duration: {format_duration(row.elapsed(now))}"]
    if row.status != "active":
        lines.append(f"Outcome: {row.status}" + (f" ({row.reason})" if row.reason else ""))
    last = ("(none)" if row.last_item is None
            else json.dumps(row.last_item, indent=2, sort_keys=True, default=str))
    lines += ["", "Last item:", last]
    return "\n".join(lines)


def _table(model: JobTableModel) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setItemDelegateForColumn(Column.PROGRESS, ProgressDelegate(view))
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setAlternatingRowColors(True)
    view.verticalHeader().hide()
    # A long reason or id is elided (tooltip and details pane show all of it).
    view.setWordWrap(False)
    view.setTextElideMode(Qt.TextElideMode.ElideRight)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(True)  # the outcome takes what is left
    metrics = view.fontMetrics()
    for column, sample in COLUMN_SAMPLES.items():
        title = model.headerData(column, Qt.Orientation.Horizontal)
        view.setColumnWidth(column, max(metrics.horizontalAdvance(sample),
                                        metrics.horizontalAdvance(title)) + CELL_PADDING_PX)
    return view


def fit_robot_column(view: QTableView, robots: list[str]) -> None:
    """Widen the robot column to the longest robot id (up to a cap), never narrow it:
    an operator's own widening stays."""
    metrics = view.fontMetrics()
    wanted = max((metrics.horizontalAdvance(r) for r in robots), default=0) + CELL_PADDING_PX
    wanted = min(wanted, ROBOT_COLUMN_MAX_PX)
    if view.columnWidth(Column.ROBOT) < wanted:
        view.setColumnWidth(Column.ROBOT, wanted)


class JobsPage(QWidget):
    jobs_loaded = Signal()  # after each refresh reached the tables

    def __init__(self, database, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._database = database
        self._work = BackgroundWork("loading jobs", self)
        self._work.succeeded.connect(self._on_jobs_loaded)
        self._work.failed.connect(self._on_load_failed)
        self._generation = 0
        self._busy = False
        self.active_model = JobTableModel(self)
        self.history_model = JobTableModel(self)
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_INTERVAL_MS)
        self._timer.timeout.connect(self.refresh)

    def _build(self) -> None:
        self.active_view = _table(self.active_model)
        self.history_view = _table(self.history_model)
        self.robot_filter = QComboBox()
        self.robot_filter.addItem(ALL)
        # Robot ids arrive after the first load; room for them without a jumping layout.
        self.robot_filter.setMinimumContentsLength(12)
        self.robot_filter.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.status_filter = QComboBox()
        self.status_filter.addItems([ALL, *HISTORY_STATUSES])
        self.date_from = QDateEdit(QDate.currentDate().addDays(-30))
        self.date_to = QDateEdit(QDate.currentDate())
        for edit in (self.date_from, self.date_to):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.dateChanged.connect(self._on_filter_changed)
        self.robot_filter.currentIndexChanged.connect(self._on_filter_changed)
        self.status_filter.currentIndexChanged.connect(self._on_filter_changed)
        filters = QHBoxLayout()
        for label, widget in (("Robot", self.robot_filter), ("Status", self.status_filter),
                              ("From", self.date_from), ("To", self.date_to)):
            filters.addWidget(QLabel(label))
            filters.addWidget(widget)
        filters.addStretch(1)
        self.status_label = QLabel("Loading jobs...")
        filters.addWidget(self.status_label)

        active_box = QGroupBox("Active jobs")
        QVBoxLayout(active_box).addWidget(self.active_view)
        history_box = QGroupBox("Job history")
        history_layout = QVBoxLayout(history_box)
        history_layout.addLayout(filters)
        history_layout.addWidget(self.history_view)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setPlaceholderText("Select a job to see its details")
        details_box = QGroupBox("Details")
        QVBoxLayout(details_box).addWidget(self.details)

        tables = QSplitter(Qt.Orientation.Vertical)
        tables.addWidget(active_box)
        tables.addWidget(history_box)
        tables.setSizes([250, 450])
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(tables)
        split.addWidget(details_box)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([1100, 380])  # room for the last item's JSON without wrapping
        QVBoxLayout(self).addWidget(split)
        for view in (self.active_view, self.history_view):
            view.selectionModel().currentRowChanged.connect(
                lambda current, _previous, view=view: self._on_job_selected(view, current))

    def start(self) -> None:
        self.refresh()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self._work.shutdown()

    def current_filter(self) -> JobFilter:
        robot = self.robot_filter.currentText()
        status = self.status_filter.currentText()
        return JobFilter(robot_id=None if robot == ALL else robot,
                         status=None if status == ALL else status,
                         date_from=self.date_from.date().toPython(),
                         date_to=self.date_to.date().toPython())

    def refresh(self) -> None:
        """Queue one load unless one is running (a slow server must not pile them up)."""
        if self._busy:
            return
        self._busy = True
        database, wanted = self._database, self.current_filter()
        self._work.start(self._generation, lambda: load_jobs(database, wanted))

    def _on_filter_changed(self, *_args) -> None:
        self._generation += 1  # a load started under the old filter is dropped
        self._busy = False
        self.refresh()

    def _on_jobs_loaded(self, generation: int, snapshot: JobSnapshot) -> None:
        if generation != self._generation:
            return
        self._busy = False
        now = datetime.now(UTC)
        self.active_model.set_rows(snapshot.active, now)
        self.history_model.set_rows(snapshot.history, now)
        self._update_robots(snapshot.robots)
        for view in (self.active_view, self.history_view):
            fit_robot_column(view, snapshot.robots)
        self.status_label.setText(f"{len(snapshot.active)} active, "
                                  f"{len(snapshot.history)} in history")
        for view in (self.active_view, self.history_view):
            current = view.currentIndex()
            if view.hasFocus() or current.isValid():
                self._on_job_selected(view, current, only_if_shown=True)
        self.jobs_loaded.emit()

    def _on_load_failed(self, generation: int, reason: str) -> None:
        if generation == self._generation:
            self._busy = False
            self.status_label.setText(f"Jobs may be out of date: {reason}")

    def _update_robots(self, robots: list[str]) -> None:
        known = {self.robot_filter.itemText(i) for i in range(self.robot_filter.count())}
        self.robot_filter.blockSignals(True)  # adding items is not a filter change
        for robot in robots:
            if robot not in known:
                self.robot_filter.addItem(robot)
        self.robot_filter.blockSignals(False)

    def _on_job_selected(self, view: QTableView, current, only_if_shown=False) -> None:
        if not current.isValid():
            return
        row = view.model().row(current.row())
        if only_if_shown and self._shown_job != row.id:
            return
        self._shown_job = row.id
        self.details.setPlainText(describe_job(row, datetime.now(UTC)))

    _shown_job: int | None = None


def install_jobs_page(window, *, database) -> JobsPage:
    """Add the Jobs tab (not closable) to window.tabs and start refreshing it."""
    page = JobsPage(database, parent=window)
    window.add_fixed_tab(page, "Jobs")
    window.jobs_page = page
    page.start()
    return page
