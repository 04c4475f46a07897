"""The console's Reports page: a form that generates a PDF report in a worker (progress bar,
Cancel) and opens it in the system viewer, and the list of recorded reports below it to
re-open or regenerate.

generate_report and the report catalogue read run on a QThreadPool (app.reports_worker);
their results and progress reach the GUI thread only through queued signals.

    page = install_reports_page(window, history_store=store, database=db, user=user)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import QStandardPaths, Qt, QThreadPool, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.reports_list import ReportTableModel
from app.reports_worker import (
    ReportsRelay,
    generation_task,
    listing_task,
    report_file_name,
    unique_path,
)
from services.reports import REPORT_KINDS
from widgets.empty_state import EmptyState
from widgets.time_range import TimeRangeChoice

logger = logging.getLogger(__name__)

PROGRESS_STEPS = 1000  # QProgressBar is integer; fractions are scaled to this
RANGES_S = {"Last 24 h": 86_400, "Last 7 d": 7 * 86_400, "Last 30 d": 30 * 86_400}
CUSTOM = "Custom"
NO_REPORTS_TEXT = ("No reports recorded yet: pick a report type, robots and a range above, "
                   "then Generate.")
REPORTS_FOLDER = "TonyPi reports"


def open_in_viewer(path: Path) -> bool:
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def default_folder() -> Path:
    documents = QStandardPaths.writableLocation(
        QStandardPaths.StandardLocation.DocumentsLocation) or str(Path.home())
    return Path(documents) / REPORTS_FOLDER


class ReportsPage(QWidget):
    report_generated = Signal(str)  # path of the new PDF
    generation_cancelled = Signal()
    generation_failed = Signal(str)
    reports_listed = Signal()
    message_shown = Signal(str)

    def __init__(self, history_store, database, user, *,
                 opener: Callable[[Path], bool] = open_in_viewer,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store, self._database, self._opener, self._clock = (
            history_store, database, opener, clock)
        self._author = getattr(user, "username", None) or str(user)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)  # one generation plus one list read
        self._relay = ReportsRelay(self)
        self._relay.progressed.connect(self._on_progressed)
        self._relay.generated.connect(self._on_generated)
        self._relay.cancelled.connect(self._on_cancelled)
        self._relay.failed.connect(self._on_failed)
        self._relay.listed.connect(self._on_listed)
        self._relay.list_failed.connect(self._on_list_failed)
        self._job = 0
        self._cancel: threading.Event | None = None
        self.model = ReportTableModel(self)
        self._build()
        self.refresh_robots()

    # -- layout -----------------------------------------------------------------------
    def _build(self) -> None:
        self.kind_choice = QComboBox()
        self.kind_choice.addItems(list(REPORT_KINDS))
        self.robots = QListWidget()
        self.robots.setMaximumHeight(140)
        # A full-width combo and list on a wide window look like text boxes; keep them compact.
        self.kind_choice.setMaximumWidth(240)
        self.robots.setMaximumWidth(420)
        self.time_range = TimeRangeChoice(RANGES_S, CUSTOM, self._clock, parent=self)
        self.range_choice = self.time_range.choice
        self.from_edit, self.to_edit = self.time_range.from_edit, self.time_range.to_edit
        range_row = QHBoxLayout()
        range_row.addWidget(self.range_choice)
        range_row.addWidget(QLabel("from"))
        range_row.addWidget(self.from_edit)
        range_row.addWidget(QLabel("to"))
        range_row.addWidget(self.to_edit)
        range_row.addStretch(1)
        self.folder_edit = QLineEdit(str(default_folder()))
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._on_browse_clicked)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        self.generate_button = QPushButton("Generate")
        self.generate_button.clicked.connect(self._on_generate_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        action_row = QHBoxLayout()
        action_row.addWidget(self.generate_button)
        action_row.addWidget(self.cancel_button)
        action_row.addWidget(self.progress, 1)
        form = QFormLayout()
        form.addRow("Report type", self.kind_choice)
        form.addRow("Robots", self.robots)
        form.addRow("Range", range_row)
        form.addRow("Output folder", folder_row)
        form.addRow(action_row)
        form_box = QGroupBox("New report")
        form_box.setLayout(form)

        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().hide()
        self.view.setWordWrap(False)
        header = self.view.horizontalHeader()
        header.setStretchLastSection(True)
        for column, width in enumerate((130, 260, 90, 160, 250, 90)):
            self.view.setColumnWidth(column, width)
        self.view.doubleClicked.connect(lambda index: self.open_report(index.row()))
        self.empty_state = EmptyState(self.view, NO_REPORTS_TEXT)
        self.open_button = QPushButton("Open")
        self.open_button.clicked.connect(self._on_open_clicked)
        self.regenerate_button = QPushButton("Regenerate")
        self.regenerate_button.clicked.connect(self._on_regenerate_clicked)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        list_row = QHBoxLayout()
        for button in (self.open_button, self.regenerate_button, refresh):
            list_row.addWidget(button)
        list_row.addStretch(1)
        list_box = QGroupBox("Recorded reports")
        list_layout = QVBoxLayout(list_box)
        list_layout.addWidget(self.view)
        list_layout.addLayout(list_row)
        self.status = QLabel("Pick a report type and robots, then Generate.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.addWidget(form_box)
        layout.addWidget(self.status)
        layout.addWidget(list_box, 1)

    # -- choices ----------------------------------------------------------------------
    def refresh_robots(self) -> None:
        checked = set(self.selected_robots())
        self.robots.clear()
        for robot in self._store.list_robots():
            item = QListWidgetItem(robot)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if robot in checked
                               else Qt.CheckState.Unchecked)
            self.robots.addItem(item)

    def selected_robots(self) -> list[str]:
        return [self.robots.item(i).text() for i in range(self.robots.count())
                if self.robots.item(i).checkState() == Qt.CheckState.Checked]

    def select_robots(self, robots: list[str]) -> None:
        for i in range(self.robots.count()):
            item = self.robots.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in robots
                               else Qt.CheckState.Unchecked)

    def set_custom_range(self, start: datetime, stop: datetime) -> None:
        self.time_range.set_custom(start, stop)

    def chosen_range(self) -> tuple[datetime, datetime]:
        return self.time_range.chosen()

    def _on_browse_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    # -- generating -------------------------------------------------------------------
    def is_busy(self) -> bool:
        return self._cancel is not None

    def _on_generate_clicked(self) -> None:
        start, stop = self.chosen_range()
        self.generate(self.kind_choice.currentText(), self.selected_robots(), start, stop)

    def generate(self, kind: str, robots: list[str], start: datetime, stop: datetime) -> bool:
        """Start one generation in the worker; False (and a message) when it cannot start."""
        if self.is_busy():
            self._show("A report is already being generated.")
            return False
        if not robots:
            self._show("Pick at least one robot.")
            return False
        if stop <= start:
            self._show("The range must end after it starts.")
            return False
        out = unique_path(Path(self.folder_edit.text()),
                          report_file_name(kind, robots, self._clock()))
        self._job += 1
        job, cancel, relay = self._job, threading.Event(), self._relay
        self._cancel = cancel
        task = generation_task(relay, job, cancel, kind=kind, robots=robots, start=start,
                               stop=stop, store=self._store, database=self._database,
                               author=self._author, out=out)
        self.progress.setValue(0)
        self._set_busy(True)
        self._show(f"Generating {kind} report for {', '.join(robots)}...")
        self._pool.start(task)
        return True

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
            self._show("Cancelling...")

    def _set_busy(self, busy: bool) -> None:
        self.generate_button.setEnabled(not busy)
        self.regenerate_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def _finish(self, job: int) -> bool:
        if job != self._job:
            return False
        self._cancel = None
        self._set_busy(False)
        return True

    def _on_progressed(self, job: int, fraction: float) -> None:
        if job == self._job:
            self.progress.setValue(round(max(0.0, min(1.0, fraction)) * PROGRESS_STEPS))

    def _on_generated(self, job: int, result: object) -> None:
        if not self._finish(job):
            return
        path = Path(result.path)
        self.progress.setValue(PROGRESS_STEPS)
        self._show(f"Report saved to {path}")
        if not self._opener(path):
            self._show(f"Report saved to {path}, but no PDF viewer could open it.")
        self.refresh()
        self.report_generated.emit(str(path))

    def _on_cancelled(self, job: int) -> None:
        if self._finish(job):
            self.progress.setValue(0)
            self._show("Report cancelled; nothing was saved.")
            self.generation_cancelled.emit()

    def _on_failed(self, job: int, reason: str) -> None:
        if self._finish(job):
            self.progress.setValue(0)
            self._show(f"Report failed: {reason}")
            self.generation_failed.emit(reason)

    # -- the list ---------------------------------------------------------------------
    def refresh(self) -> None:
        self._pool.start(listing_task(self._relay, self._database))

    def _on_listed(self, rows: object) -> None:
        self.model.set_rows(rows)
        self.reports_listed.emit()

    def _on_list_failed(self, reason: str) -> None:
        self._show(f"The report list may be out of date: {reason}")

    def _selected_row(self) -> int | None:
        index = self.view.currentIndex()
        if not index.isValid():
            self._show("Select a report in the list first.")
            return None
        return index.row()

    def _on_open_clicked(self) -> None:
        row = self._selected_row()
        if row is not None:
            self.open_report(row)

    def _on_regenerate_clicked(self) -> None:
        row = self._selected_row()
        if row is not None:
            self.regenerate(row)

    def open_report(self, row: int) -> bool:
        report = self.model.row(row)
        path = Path(report.file_path)
        if not report.file_path or not path.is_file():
            self._show(f"The file of \"{report.title}\" no longer exists: {path}. "
                       "Use Regenerate to create it again.")
            return False
        if not self._opener(path):
            self._show(f"No PDF viewer could open {path}.")
            return False
        return True

    def regenerate(self, row: int) -> bool:
        """Run the same type, robots and range again into a new file."""
        report = self.model.row(row)
        if report.start is None or report.stop is None or not report.robots:
            self._show(f"\"{report.title}\" does not record its robots and range.")
            return False
        return self.generate(report.kind, list(report.robots), report.start, report.stop)

    def _show(self, text: str) -> None:
        self.status.setText(text)
        self.message_shown.emit(text)

    def shutdown(self) -> None:
        self.cancel()
        self._pool.waitForDone()


def install_reports_page(window, *, history_store, database, user, **kwargs) -> ReportsPage:
    """Add the Reports tab (not closable) to window.tabs and list the recorded reports."""
    page = ReportsPage(history_store, database, user, parent=window, **kwargs)
    window.add_fixed_tab(page, "Reports")
    window.reports_page = page
    page.refresh()
    return page
