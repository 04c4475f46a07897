"""The History page: pick robots, signals and a range; query the history store off the GUI
thread; draw min/mean/max bands with alert markers and job spans; export CSV/JSON.

Every query carries a generation number; only the newest generation's answer is drawn,
so a cancelled or superseded query (the user zoomed again) is simply ignored when it
comes back - a store call cannot be interrupted mid-flight, but its result can be.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QProgressDialog,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from services.alerts.store import AlertStore
from services.export import ExportCancelled, ExportRow, rows_from_buckets, write_csv, write_json
from services.history.base import Bucket, HistoryStore, SeriesKey
from services.records.jobs import JobRepository
from widgets.history_plot import HistoryPlot
from widgets.time_range import TimeRangeChoice

logger = logging.getLogger(__name__)

RANGES_S = {"Last 1 h": 3600, "Last 24 h": 86_400, "Last 7 d": 7 * 86_400,
            "Last 30 d": 30 * 86_400}
CUSTOM = "Custom…"
RAW_RESOLUTION_S = 1  # "raw" export: 1 s buckets, the agents' fastest sampling period
RAW_MAX_POINTS = 3_000_000  # per signal: 30 days at 1 s, bounds memory of one export
OVERLAY_ROWS_LIMIT = 2000
UNITS = {"cpu_percent": "%", "memory_percent": "%", "disk_percent": "%", "temperature": "°C",
         "voltage": "V", "percentage": "%", "current": "A", "position": "°"}

Signal_ = tuple[str, SeriesKey]  # (robot_id, series key)


def signal_label(robot_id: str, key: SeriesKey) -> str:
    text = f"{robot_id} {key.measurement}.{key.field}"
    if key.series:
        text += f" servo {key.series}" if key.measurement == "servos" else f" [{key.series}]"
    return text


@dataclass(frozen=True)
class QueryResult:
    start: datetime
    stop: datetime
    max_points: int
    buckets: dict[str, tuple[str, SeriesKey, list[Bucket]]]  # label -> (robot, key, data)
    markers: list[tuple[datetime, str, str]]
    spans: list[tuple[datetime, datetime, str]]


class _Relay(QObject):
    """Carries a worker's outcome back to the GUI thread (queued signal delivery)."""

    succeeded = Signal(int, object)
    failed = Signal(int, str)
    progressed = Signal(int, int)


class _Task(QRunnable):
    def __init__(self, generation: int, relay: _Relay, work: Callable[[], Any]) -> None:
        super().__init__()
        self.generation, self.relay, self.work = generation, relay, work

    def run(self) -> None:  # worker thread: never touches widgets, only emits
        try:
            result = self.work()
        except Exception as exc:  # reported to the operator, not swallowed
            logger.warning("history task failed: %s", exc)
            self.relay.failed.emit(self.generation, str(exc) or type(exc).__name__)
        else:
            self.relay.succeeded.emit(self.generation, result)


def load_overlays(database: Any, robots: list[str], start: datetime, stop: datetime
                  ) -> tuple[list[tuple[datetime, str, str]], list[tuple[datetime, datetime, str]]]:
    """Alert raised/resolved markers and job spans inside [start, stop] (plain tuples)."""
    markers: list[tuple[datetime, str, str]] = []
    spans: list[tuple[datetime, datetime, str]] = []
    with database.session() as session:
        for robot in robots:
            for alert in AlertStore(session).list(robot_id=robot, limit=OVERLAY_ROWS_LIMIT):
                if alert.created_at and start <= alert.created_at <= stop:
                    markers.append((alert.created_at, f"{robot}: {alert.title}", "raised"))
                if alert.resolved_at and start <= alert.resolved_at <= stop:
                    markers.append((alert.resolved_at, f"{robot}: {alert.title} ✓", "resolved"))
            for job in JobRepository(session).list(robot_id=robot, limit=OVERLAY_ROWS_LIMIT):
                end = job.end_time or stop
                if job.start_time <= stop and end >= start:
                    spans.append((max(job.start_time, start), min(end, stop),
                                  f"{robot}: {job.task_name or 'job'} ({job.status})"))
    return markers, spans


class HistoryPage(QWidget):
    query_finished = Signal()  # the newest query's result is drawn
    query_failed = Signal(str)
    export_finished = Signal(str, int)  # path, rows written

    def __init__(self, history_store: HistoryStore, database: Any = None, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store, self._database, self._clock = history_store, database, clock
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._relay = _Relay(self)
        self._relay.succeeded.connect(self._on_task_succeeded)
        self._relay.failed.connect(self._on_task_failed)
        self._generation = 0
        self._current: int | None = None  # generation whose answer will be drawn
        self._export_job: tuple[int, str, threading.Event, QProgressDialog] | None = None
        self._shown: QueryResult | None = None
        self._build()
        self.refresh_robots()

    # -- layout -----------------------------------------------------------------------
    def _build(self) -> None:
        self.robots = QListWidget()
        self.robots.itemChanged.connect(self._on_robot_checked)
        self.signals = QListWidget()
        self.time_range = TimeRangeChoice(RANGES_S, CUSTOM, self._clock, default="Last 24 h",
                                          parent=self)
        self.range_choice = self.time_range.choice
        self.from_edit, self.to_edit = self.time_range.from_edit, self.time_range.to_edit
        self.show_button = QPushButton("Show")
        self.show_button.clicked.connect(self._on_show_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_query)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # indeterminate: a store query reports no progress
        self.busy.setVisible(False)
        self.status = QLabel("Pick robots and signals, then Show.")
        self.status.setWordWrap(True)
        buttons = {}
        for name, raw, fmt in (("Export shown (CSV)", False, "csv"),
                               ("Export shown (JSON)", False, "json"),
                               ("Export raw (CSV)", True, "csv"),
                               ("Export raw (JSON)", True, "json")):
            button = QPushButton(name)
            button.clicked.connect(lambda _=False, r=raw, f=fmt: self._on_export_clicked(r, f))
            buttons[name] = button
        self.export_buttons = buttons

        form = QFormLayout()
        form.addRow("Range", self.range_choice)
        form.addRow("From", self.from_edit)
        form.addRow("To", self.to_edit)
        side = QVBoxLayout()
        side.addWidget(QLabel("Robots"))
        side.addWidget(self.robots, 1)
        side.addWidget(QLabel("Signals"))
        side.addWidget(self.signals, 2)
        side.addLayout(form)
        row = QHBoxLayout()
        row.addWidget(self.show_button)
        row.addWidget(self.cancel_button)
        side.addLayout(row)
        side.addWidget(self.busy)
        side.addWidget(self.status)
        for button in buttons.values():
            side.addWidget(button)
        panel = QWidget()
        panel.setLayout(side)
        panel.setFixedWidth(280)
        self.plot = HistoryPlot()
        self.plot.range_changed.connect(self._on_plot_range_changed)
        layout = QHBoxLayout(self)
        layout.addWidget(panel)
        layout.addWidget(self.plot, 1)

    # -- choices ----------------------------------------------------------------------
    def refresh_robots(self) -> None:
        self.robots.clear()
        for robot in self._store.list_robots():
            item = QListWidgetItem(robot)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.robots.addItem(item)

    def _on_robot_checked(self, _item: QListWidgetItem) -> None:
        previously = {s for s in self.selected_signals()}
        self.signals.clear()
        for robot in self.selected_robots():
            for key in self._store.list_fields(robot):
                item = QListWidgetItem(signal_label(robot, key))
                item.setData(Qt.ItemDataRole.UserRole, (robot, key))
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                checked = (robot, key) in previously
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                self.signals.addItem(item)

    def selected_robots(self) -> list[str]:
        return [self.robots.item(i).text() for i in range(self.robots.count())
                if self.robots.item(i).checkState() == Qt.CheckState.Checked]

    def selected_signals(self) -> list[Signal_]:
        return [self.signals.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.signals.count())
                if self.signals.item(i).checkState() == Qt.CheckState.Checked]

    def select(self, robots: list[str], signals: list[Signal_]) -> None:
        """Check robots and signals programmatically (restoring a view, tests)."""
        for i in range(self.robots.count()):
            item = self.robots.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in robots
                               else Qt.CheckState.Unchecked)
        for i in range(self.signals.count()):
            item = self.signals.item(i)
            wanted = item.data(Qt.ItemDataRole.UserRole) in signals
            item.setCheckState(Qt.CheckState.Checked if wanted else Qt.CheckState.Unchecked)

    def set_custom_range(self, start: datetime, stop: datetime) -> None:
        self.time_range.set_custom(start, stop)

    def chosen_range(self) -> tuple[datetime, datetime]:
        return self.time_range.chosen()

    # -- querying ---------------------------------------------------------------------
    def _on_show_clicked(self) -> None:
        start, stop = self.chosen_range()
        if stop <= start:
            self.status.setText("The range ends before it starts.")
            return
        self.plot.set_x_range(start, stop)
        self.run_query(start, stop, self.plot.pixel_width(), reset_view=True)

    def _on_plot_range_changed(self, start_s: float, stop_s: float, width_px: int) -> None:
        if self._shown is None or stop_s <= start_s:
            return
        self.run_query(datetime.fromtimestamp(start_s, UTC), datetime.fromtimestamp(stop_s, UTC),
                       width_px, reset_view=False)

    def run_query(self, start: datetime, stop: datetime, max_points: int, *,
                  reset_view: bool = False) -> int:
        """Start a query in the pool; returns its generation (newer ones supersede it)."""
        chosen = self.selected_signals()
        robots = sorted({robot for robot, _ in chosen})
        store, database = self._store, self._database
        max_points = max(1, max_points)

        def work() -> QueryResult:
            buckets = {signal_label(robot, key): (robot, key, store.query(
                robot, key.measurement, key.field, start, stop, max_points, key.series))
                for robot, key in chosen}
            markers, spans = ([], []) if database is None else load_overlays(
                database, robots, start, stop)
            return QueryResult(start, stop, max_points, buckets, markers, spans)

        self._generation += 1
        self._current = self._generation
        self._reset_view = reset_view
        self._set_busy(True, f"Querying {len(chosen)} signal(s)…")
        self._pool.start(_Task(self._generation, self._relay, work))
        return self._generation

    def cancel_query(self) -> None:
        """Forget the running query: its answer will be ignored when it arrives."""
        self._current = None
        self._set_busy(False, "Query cancelled.")

    def is_busy(self) -> bool:
        return self._current is not None

    def _set_busy(self, busy: bool, text: str) -> None:
        self.busy.setVisible(busy)
        self.cancel_button.setEnabled(busy)
        self.status.setText(text)

    def _on_task_succeeded(self, generation: int, result: object) -> None:
        if self._export_job is not None and generation == self._export_job[0]:
            self._on_export_done(result)
            return
        if generation != self._current or not isinstance(result, QueryResult):
            logger.debug("ignoring result of superseded query %d", generation)
            return
        self._current = None
        self._draw(result)
        total = sum(len(b) for _, _, b in result.buckets.values())
        self._set_busy(False, f"{len(result.buckets)} signal(s), {total} buckets.")
        self.query_finished.emit()

    def _on_task_failed(self, generation: int, message: str) -> None:
        if self._export_job is not None and generation == self._export_job[0]:
            self._finish_export()
            self.status.setText(f"Export failed: {message}")
            return
        if generation != self._current:
            return
        self._current = None
        self._set_busy(False, f"Query failed: {message}")
        self.query_failed.emit(message)

    def _draw(self, result: QueryResult) -> None:
        wanted = set(result.buckets)
        for key in self.plot.series_keys():
            if key not in wanted:
                self.plot.remove_series(key)
        units = set()
        for label, (_robot, key, buckets) in result.buckets.items():
            self.plot.set_series(label, [b.start.timestamp() for b in buckets],
                                 [b.min for b in buckets], [b.mean for b in buckets],
                                 [b.max for b in buckets])
            units.add(UNITS.get(key.field, ""))
        self.plot.set_units(units.pop() if len(units) == 1 else "")
        self.plot.set_markers(result.markers)
        self.plot.set_spans(result.spans)
        if self._reset_view:
            self.plot.set_x_range(result.start, result.stop)
        self._shown = result

    def shown(self) -> QueryResult | None:
        return self._shown

    # -- export -----------------------------------------------------------------------
    def _on_export_clicked(self, raw: bool, fmt: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export history", f"history.{fmt}",
                                              f"{fmt.upper()} (*.{fmt})")
        if path:
            (self.export_raw if raw else self.export_shown)(path, fmt)

    def _metadata(self, start: datetime, stop: datetime, resolution: str) -> dict[str, Any]:
        return {"start": start, "stop": stop, "resolution": resolution,
                "signals": sorted(self._shown.buckets) if self._shown else []}

    def export_shown(self, path: str, fmt: str) -> int:
        """Write exactly the buckets on screen; small, so done on the GUI thread."""
        if self._shown is None:
            self.status.setText("Nothing shown to export.")
            return 0
        rows = [row for robot, key, buckets in self._shown.buckets.values()
                for row in rows_from_buckets(robot, key.measurement, key.field, key.series,
                                             buckets)]
        meta = self._metadata(self._shown.start, self._shown.stop, "shown")
        written = (write_csv(path, rows) if fmt == "csv"
                   else write_json(path, rows, metadata=meta))
        self.status.setText(f"Exported {written} rows to {path}")
        self.export_finished.emit(path, written)
        return written

    def export_raw(self, path: str, fmt: str) -> int:
        """Query the shown range at 1 s buckets and write it in a worker with a progress
        dialog; returns the task's generation.  export_finished fires when done."""
        if self._shown is None or self._export_job is not None:
            return 0
        start, stop = self._shown.start, self._shown.stop
        signals = [(robot, key) for robot, key, _ in self._shown.buckets.values()]
        points = min(RAW_MAX_POINTS, max(1, int((stop - start).total_seconds()
                                                // RAW_RESOLUTION_S)))
        meta = self._metadata(start, stop, f"{RAW_RESOLUTION_S} s")
        stop_event = threading.Event()
        relay, store = self._relay, self._store
        self._generation += 1
        generation = self._generation

        def progress(done: int, total: int | None) -> bool:
            relay.progressed.emit(done, total or 0)
            return not stop_event.is_set()

        def work() -> int:
            rows: list[ExportRow] = []
            for robot, key in signals:
                if stop_event.is_set():
                    raise ExportCancelled("export cancelled")
                rows.extend(rows_from_buckets(robot, key.measurement, key.field, key.series,
                            store.query(robot, key.measurement, key.field, start, stop,
                                        points, key.series)))
            if fmt == "csv":
                return write_csv(path, rows, total=len(rows), progress=progress)
            return write_json(path, rows, metadata=meta, total=len(rows), progress=progress)

        dialog = QProgressDialog("Exporting raw history…", "Cancel", 0, 0, self)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        dialog.canceled.connect(stop_event.set)
        self._relay.progressed.connect(self._on_export_progressed)
        self._export_job = (generation, path, stop_event, dialog)
        self._pool.start(_Task(generation, self._relay, work))
        return generation

    def cancel_export(self) -> None:
        if self._export_job is not None:
            self._export_job[2].set()

    def _on_export_progressed(self, done: int, total: int) -> None:
        if self._export_job is not None:
            dialog = self._export_job[3]
            dialog.setMaximum(total)
            dialog.setValue(done)

    def _finish_export(self) -> None:
        if self._export_job is not None:
            self._relay.progressed.disconnect(self._on_export_progressed)
            dialog = self._export_job[3]
            self._export_job = None
            dialog.reset()
            dialog.deleteLater()

    def _on_export_done(self, written: object) -> None:
        path = self._export_job[1] if self._export_job else ""
        self._finish_export()
        self.status.setText(f"Exported {written} rows to {path}")
        self.export_finished.emit(path, int(written))  # type: ignore[call-overload]

    def shutdown(self) -> None:
        self.cancel_query()
        self.cancel_export()
        self._pool.waitForDone(5000)


def install_history_page(window: Any, history_store: HistoryStore, database: Any = None
                         ) -> HistoryPage:
    page = HistoryPage(history_store, database)
    window.add_fixed_tab(page, "History")
    window.history_page = page
    return page
