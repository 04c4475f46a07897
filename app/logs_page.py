"""The console's Logs page: system_logs filtered by level, category, robot, time and
text, following new entries live, with copy and CSV/JSON export.

Database reads run on a worker thread (app.background) every 2 s, asking only for entries at or
after the newest one shown; the model drops the ones it already has.  Every filter,
text search included, is applied by the database, so a match older than the newest
LOAD_LIMIT entries is still found.  The Custom time range is picked in local time and
queried in UTC.

    page = install_logs_page(window, database=db)
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import (
    QDateTime,
    Qt,
    QTime,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QDateTimeEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.background import BackgroundWork
from services.export import export_logs
from services.records.queries import LogFilter, LogQueries
from services.vocabulary import LOG_LEVELS
from widgets.log_model import Column, LogRow, LogTableModel

logger = logging.getLogger(__name__)

REFRESH_INTERVAL_MS = 2000
LOAD_LIMIT = 2000
ALL = "All"
CATEGORIES = ("system", "robot", "mqtt", "database", "alert", "job", "security")
CUSTOM = "Custom"
TIME_RANGES = {"Last 1 h": timedelta(hours=1), "Last 24 h": timedelta(hours=24),
               "Last 7 d": timedelta(days=7), "Last 30 d": timedelta(days=30), ALL: None}
DATETIME_FORMAT = "yyyy-MM-dd HH:mm"


def log_row(entry) -> LogRow:
    return LogRow(id=entry.id, timestamp=entry.timestamp, level=entry.level,
                  category=entry.category, message=entry.message, robot_id=entry.robot_id,
                  details=entry.details)


def load_logs(database, wanted: LogFilter, after: datetime | None = None
              ) -> tuple[list[LogRow], list[str]]:
    """Matching entries newest first (from `after` on when following), and robot ids."""
    entries, robots = LogQueries(database).read(wanted, after, limit=LOAD_LIMIT)
    return [log_row(entry) for entry in entries], robots


def _to_utc(value: QDateTime) -> datetime:
    # Through the epoch rather than toPython(), which gives a naive local datetime.
    return datetime.fromtimestamp(value.toSecsSinceEpoch(), UTC)


def _whole_minute(value: QDateTime) -> QDateTime:
    # The pickers show minutes; hidden seconds would make "to 10:30" end at 10:30:41.
    time = value.time()
    return QDateTime(value.date(), QTime(time.hour(), time.minute()), value.timeZone())


class LogsPage(QWidget):
    logs_loaded = Signal(int)  # how many entries the last load added
    exported = Signal(str)  # the file written, or "" when the export failed

    def __init__(self, database, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._database = database
        self._work = BackgroundWork("loading logs", self)
        self._work.succeeded.connect(self._on_logs_loaded)
        self._work.failed.connect(self._on_load_failed)
        self._export = BackgroundWork("exporting logs", self)
        self._export.succeeded.connect(self._on_exported)
        self._export.failed.connect(self._on_export_failed)
        self._generation = 0
        self._busy = False
        self.model = LogTableModel(parent=self)
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_INTERVAL_MS)
        self._timer.timeout.connect(self.refresh)

    def _build(self) -> None:
        self.level_filter = QComboBox()
        self.level_filter.addItems([ALL, *LOG_LEVELS])
        self.category_filter = QComboBox()
        self.category_filter.setEditable(True)  # categories are free text in the table
        self.category_filter.addItems([ALL, *CATEGORIES])
        self.robot_filter = QComboBox()
        self.robot_filter.addItem(ALL)
        # Robot ids arrive after the first load; room for them without a jumping layout.
        self.robot_filter.setMinimumContentsLength(12)
        self.robot_filter.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.time_filter = QComboBox()
        self.time_filter.addItems([*TIME_RANGES, CUSTOM])
        self.time_filter.setCurrentText("Last 24 h")
        self._build_custom_range()
        self.text_filter = QLineEdit()
        self.text_filter.setPlaceholderText("Search messages")
        self.text_filter.setClearButtonEnabled(True)
        self.text_filter.setMinimumWidth(180)  # stays usable beside the Custom pickers
        self._last_preset = self.time_filter.currentText()
        # Connected before _on_filter_changed, so the reload sees the pickers it sets.
        self.time_filter.currentIndexChanged.connect(self._on_time_choice_changed)
        for combo in (self.level_filter, self.robot_filter, self.time_filter):
            combo.currentIndexChanged.connect(self._on_filter_changed)
        self.category_filter.currentTextChanged.connect(self._on_filter_changed)
        self.text_filter.textChanged.connect(self._on_filter_changed)
        self.copy_button = QPushButton("Copy")
        self.copy_button.clicked.connect(self.copy_selected)
        self.export_button = QPushButton("Export...")
        self.export_button.clicked.connect(self._on_export_clicked)
        bar = QHBoxLayout()
        for label, widget in (("Level", self.level_filter),
                              ("Category", self.category_filter),
                              ("Robot", self.robot_filter), ("Time", self.time_filter)):
            bar.addWidget(QLabel(label))
            bar.addWidget(widget)
        bar.addWidget(self.custom_range)
        bar.addWidget(self.text_filter, 1)
        bar.addWidget(self.copy_button)
        bar.addWidget(self.export_button)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().hide()
        # One line per entry, dense like a terminal: the style's default rows are tall.
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.view.setWordWrap(False)
        header = self.view.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in ((Column.TIME, 150), (Column.LEVEL, 80), (Column.CATEGORY, 90),
                              (Column.ROBOT, 110)):
            self.view.setColumnWidth(column, width)
        copy = QAction("Copy", self.view)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(self.copy_selected)
        self.view.addAction(copy)
        self.status_label = QLabel("Loading logs...")
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.view)
        layout.addWidget(self.status_label)

    def _build_custom_range(self) -> None:
        """From/to pickers in local time, shown only while the Custom range is chosen."""
        now = _whole_minute(QDateTime.currentDateTime())
        self.date_from = QDateTimeEdit(now.addDays(-1))
        self.date_to = QDateTimeEdit(now)
        self.custom_range = QWidget()
        row = QHBoxLayout(self.custom_range)
        row.setContentsMargins(0, 0, 0, 0)
        for label, edit in (("From", self.date_from), ("To", self.date_to)):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat(DATETIME_FORMAT)
            edit.setToolTip("Local time; the To minute is included")
            edit.dateTimeChanged.connect(self._on_custom_range_changed)
            row.addWidget(QLabel(label))
            row.addWidget(edit)
        self.custom_range.setVisible(False)

    def _on_time_choice_changed(self, *_args) -> None:
        choice = self.time_filter.currentText()
        if choice != CUSTOM:
            self._last_preset = choice
            return
        # Start from the range just shown, ending now: pickers set when the page was
        # built (perhaps hours ago) would silently hide the newest entries.
        now = _whole_minute(QDateTime.currentDateTime())
        span = TIME_RANGES.get(self._last_preset) or timedelta(hours=24)
        for edit, value in ((self.date_from, now.addSecs(-int(span.total_seconds()))),
                            (self.date_to, now)):
            edit.blockSignals(True)  # one reload for the whole switch, not three
            edit.setDateTime(value)
            edit.blockSignals(False)

    def _on_custom_range_changed(self, *_args) -> None:
        if self.time_filter.currentText() == CUSTOM:
            self._on_filter_changed()

    def start(self) -> None:
        self.refresh()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self._work.shutdown()
        self._export.shutdown()

    def current_filter(self, now: datetime | None = None) -> LogFilter:
        def chosen(combo: QComboBox) -> str | None:
            text = combo.currentText().strip()
            return None if text in ("", ALL) else text

        until = None
        if self.time_filter.currentText() == CUSTOM:
            since = _to_utc(_whole_minute(self.date_from.dateTime()))
            # The To minute is included: entries up to its last second are wanted.
            until = _to_utc(_whole_minute(self.date_to.dateTime()).addSecs(60))
        else:
            span = TIME_RANGES.get(self.time_filter.currentText())
            since = None if span is None else (now or datetime.now(UTC)) - span
        return LogFilter(level=chosen(self.level_filter), category=chosen(self.category_filter),
                         robot_id=chosen(self.robot_filter), since=since, until=until,
                         text=self.text_filter.text())

    def refresh(self) -> None:
        """Load entries newer than the newest shown (all matching ones when empty)."""
        if self._busy:
            return
        self._busy = True
        rows = self.model.rows()
        after = rows[0].timestamp if rows else None
        database, wanted = self._database, self.current_filter()
        self._work.start(self._generation, lambda: load_logs(database, wanted, after))

    def _on_filter_changed(self, *_args) -> None:
        self.custom_range.setVisible(self.time_filter.currentText() == CUSTOM)
        self._generation += 1  # a load under the old filter is dropped when it lands
        self._busy = False
        self.model.clear()
        self.refresh()

    def _on_logs_loaded(self, generation: int, loaded: tuple[list[LogRow], list[str]]) -> None:
        rows, robots = loaded
        if generation != self._generation:
            return
        self._busy = False
        added = self.model.append(rows)
        known = {self.robot_filter.itemText(i) for i in range(self.robot_filter.count())}
        self.robot_filter.blockSignals(True)  # adding choices is not a filter change
        for robot in robots:
            if robot not in known:
                self.robot_filter.addItem(robot)
        self.robot_filter.blockSignals(False)
        self._show_status()
        self.logs_loaded.emit(added)

    def _show_status(self) -> None:
        wanted = self.current_filter()
        text = f"{self.model.rowCount()} entries shown"
        if wanted.since is not None and wanted.until is not None \
                and wanted.since >= wanted.until:
            text += " (the From time is not before the To time)"
        elif wanted.follows_live(datetime.now(UTC)):
            text += ", following live"
        self.status_label.setText(text)

    def _on_load_failed(self, generation: int, reason: str) -> None:
        if generation == self._generation:
            self._busy = False
            self.status_label.setText(f"Logs may be out of date: {reason}")

    def selected_rows(self) -> list[LogRow]:
        positions = sorted({index.row() for index in self.view.selectionModel().selectedRows()})
        return [self.model.row(position) for position in positions]

    def copy_selected(self) -> str:
        """Put the selected entries on the clipboard as tab-separated lines."""
        text = "\n".join(row.as_line() for row in self.selected_rows())
        if text:
            QApplication.clipboard().setText(text)
        return text

    def _on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export logs", "logs.csv",
                                              "CSV (*.csv);;JSON (*.json)")
        if not path:
            return
        self.export_to(path)

    def export_to(self, path: str) -> None:
        """Write the shown entries to `path` on a worker thread (a slow network share
        must not freeze the window); the outcome shows in the status line."""
        records = [row.as_dict() for row in self.model.rows()]

        def work() -> int:
            export_logs(records, path)
            return len(records)

        self._export.start(path, work)

    def _on_exported(self, path: str, count: int) -> None:
        self.status_label.setText(f"Exported {count} entries to {path}")
        self.exported.emit(path)

    def _on_export_failed(self, _path: str, reason: str) -> None:
        self.status_label.setText(f"Export failed: {reason}")
        self.exported.emit("")


def install_logs_page(window, *, database) -> LogsPage:
    """Add the Logs tab (not closable) to window.tabs and start following the logs."""
    page = LogsPage(database, parent=window)
    window.add_fixed_tab(page, "Logs")
    window.logs_page = page
    page.start()
    return page
