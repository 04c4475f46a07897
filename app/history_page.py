"""The History page: pick signals (a searchable tree) and a range; query the history
store off the GUI thread; draw min/mean/max bands, one panel per unit, with alert
markers, job spans and alert thresholds; fit the view to the data; export CSV/JSON.

Every query carries a generation number; only the newest generation's answer is drawn,
so a cancelled or superseded query (the user zoomed again) is simply ignored when it
comes back - a store call cannot be interrupted mid-flight, but its result can be.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QThreadPool, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.history_export import HistoryExportMixin
from app.history_query import (
    QueryResult,
    Signal_,
    leaf_label,
    load_catalog,
    run_history_query,
    signal_label,
    threshold_lines,
    unit_of,
)
from app.history_tasks import Relay, Task
from services.history.base import HistoryStore, SeriesKey
from widgets.history_plot import HistoryPlot, SeriesData
from widgets.signal_tree import SignalEntry, SignalTree
from widgets.time_range import TimeRangeChoice, local_zone_name

logger = logging.getLogger(__name__)

__all__ = ["HistoryPage", "QueryResult", "install_history_page", "signal_label"]

RANGES_S = {"Last 1 h": 3600, "Last 24 h": 86_400, "Last 7 d": 7 * 86_400,
            "Last 30 d": 30 * 86_400}
CUSTOM = "Custom…"
SIDE_PANEL_WIDTH_PX = 330
CATALOG_REFRESH_S = 30.0  # robots and signals appear while the console runs
# After Show, data covering less than this part of the asked range is re-queried over
# its own extent: fitting alone would stretch coarse buckets across the plot.
REFINE_BELOW_FRACTION = 0.8
TIME_FORMAT = "%Y-%m-%d %H:%M"
PICK_TEXT = "Pick signals and a range, then Show."
NOTHING_SHOWN_TEXT = "Nothing shown yet: tick signals in the tree, pick a range, then Show."


class HistoryPage(HistoryExportMixin, QWidget):
    query_finished = Signal()  # the newest query's result is drawn
    query_failed = Signal(str)
    signals_loaded = Signal()  # the signal tree holds what the store knows
    export_finished = Signal(str, int)  # path, rows written

    def __init__(self, history_store: HistoryStore, database: Any = None, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store, self._database, self._clock = history_store, database, clock
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._relay = Relay(self)
        self._relay.succeeded.connect(self._on_task_succeeded)
        self._relay.failed.connect(self._on_task_failed)
        self._generation = 0
        self._current: int | None = None  # generation whose answer will be drawn
        self._catalog_generation: int | None = None
        self._catalog_loaded_at = float("-inf")  # monotonic seconds
        self._export_job = None
        self._shown: QueryResult | None = None
        self._reset_view = False
        self._build()
        self.refresh_signals()

    # -- layout -----------------------------------------------------------------------
    def _build(self) -> None:
        self.signal_tree = SignalTree()
        self.time_range = TimeRangeChoice(RANGES_S, CUSTOM, self._clock, default="Last 24 h",
                                          parent=self)
        self.range_choice = self.time_range.choice
        self.from_edit, self.to_edit = self.time_range.from_edit, self.time_range.to_edit
        self.show_button = QPushButton("Show")
        self.show_button.setDefault(True)
        self.show_button.clicked.connect(self._on_show_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_query)
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Scale the view to the data shown (time and values)")
        self.fit_button.setEnabled(False)
        self.fit_button.clicked.connect(self._on_fit_clicked)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # indeterminate: a store query reports no progress
        self.busy.setVisible(False)
        self.status = QLabel(PICK_TEXT)
        self.status.setWordWrap(True)
        exports = QGridLayout()
        self.export_buttons = {}
        for index, (name, raw, fmt) in enumerate((("Export shown (CSV)", False, "csv"),
                                                  ("Export shown (JSON)", False, "json"),
                                                  ("Export raw (CSV)", True, "csv"),
                                                  ("Export raw (JSON)", True, "json"))):
            button = QPushButton(name)
            button.clicked.connect(lambda _=False, r=raw, f=fmt: self._on_export_clicked(r, f))
            self.export_buttons[name] = button
            exports.addWidget(button, index // 2, index % 2)

        form = QFormLayout()
        form.addRow("Range", self.range_choice)
        form.addRow("From", self.from_edit)
        form.addRow("To", self.to_edit)
        form.addRow("", self.time_range.zone_label)
        side = QVBoxLayout()
        side.addWidget(QLabel("Signals"))
        side.addWidget(self.signal_tree, 1)
        side.addLayout(form)
        row = QHBoxLayout()
        for button in (self.show_button, self.cancel_button, self.fit_button):
            row.addWidget(button)
        side.addLayout(row)
        side.addWidget(self.busy)
        side.addWidget(self.status)
        side.addLayout(exports)
        panel = QWidget()
        panel.setLayout(side)
        self.plot = HistoryPlot()
        self.plot.range_changed.connect(self._on_plot_range_changed)
        splitter = QSplitter()  # the operator may widen the tree for long names
        splitter.addWidget(panel)
        splitter.addWidget(self.plot)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([SIDE_PANEL_WIDTH_PX, 1000])
        layout = QHBoxLayout(self)
        layout.addWidget(splitter)
        # Before the first query: the chosen range on the time axis and what to do, not
        # an empty chart ticked 0.1..0.9.
        self.plot.set_x_range(*self.time_range.chosen())
        self.plot.show_message(NOTHING_SHOWN_TEXT)

    # -- choices ----------------------------------------------------------------------
    def refresh_signals(self) -> int:
        """Load every robot's signals in a worker; signals_loaded fires when shown."""
        store = self._store
        self._generation += 1
        self._catalog_generation = self._generation
        self._catalog_loaded_at = time.monotonic()
        self._pool.start(Task(self._generation, self._relay, lambda: load_catalog(store)))
        return self._generation

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if time.monotonic() - self._catalog_loaded_at > CATALOG_REFRESH_S:
            self.refresh_signals()

    def _on_catalog_loaded(self, catalog: dict[str, list[SeriesKey]]) -> None:
        self.signal_tree.set_entries(
            SignalEntry(robot, key.measurement, leaf_label(key), (robot, key),
                        f"{signal_label(robot, key)} ({unit_of(key) or 'no unit'})")
            for robot, keys in catalog.items() for key in keys)
        self.signals_loaded.emit()

    def selected_signals(self) -> list[Signal_]:
        return list(self.signal_tree.checked_keys())

    def select(self, signals: list[Signal_]) -> None:
        """Check signals programmatically (restoring a view, tests)."""
        self.signal_tree.set_checked(signals)

    def set_custom_range(self, start: datetime, stop: datetime) -> None:
        self.time_range.set_custom(start, stop)

    def chosen_range(self) -> tuple[datetime, datetime]:
        return self.time_range.chosen()

    # -- querying ---------------------------------------------------------------------
    def _on_show_clicked(self) -> None:
        if not self.selected_signals():
            self.status.setText("Pick at least one signal.")
            return
        start, stop = self.chosen_range()
        if stop <= start:
            self.status.setText("The range ends before it starts.")
            return
        self.plot.set_x_range(start, stop)
        self.run_query(start, stop, self.plot.pixel_width(), reset_view=True)

    def _on_fit_clicked(self) -> None:
        if self._shown is not None:
            # not quiet: a narrower fitted range is re-queried at its finer resolution
            self.plot.fit_to_data(self._shown.bucket_s(), quiet=False)

    def _on_plot_range_changed(self, start_s: float, stop_s: float, width_px: int) -> None:
        if self._shown is None or stop_s <= start_s:
            return
        self.run_query(datetime.fromtimestamp(start_s, UTC), datetime.fromtimestamp(stop_s, UTC),
                       width_px, reset_view=False)

    def run_query(self, start: datetime, stop: datetime, max_points: int, *,
                  reset_view: bool = False) -> int:
        """Start a query in the pool; returns its generation (newer ones supersede it).
        `reset_view`: fit the view to what comes back (a new Show, not a zoom)."""
        chosen = self.selected_signals()
        store, database = self._store, self._database
        max_points = max(1, max_points)
        self._generation += 1
        self._current = self._generation
        self._reset_view = reset_view
        self._set_busy(True, f"Querying {len(chosen)} signal(s)…")
        self._pool.start(Task(self._generation, self._relay, lambda: run_history_query(
            store, database, chosen, start, stop, max_points)))
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
        if generation == self._catalog_generation and isinstance(result, dict):
            self._catalog_generation = None
            self._on_catalog_loaded(result)
            return
        if self._export_job is not None and generation == self._export_job[0]:
            self._on_export_done(result)
            return
        if generation != self._current or not isinstance(result, QueryResult):
            logger.debug("ignoring result of superseded query %d", generation)
            return
        self._current = None
        empty = self._draw(result)
        total = sum(len(b) for _, _, b in result.buckets.values())
        text = f"{len(result.buckets)} signal(s), {total} buckets."
        if empty and total:
            text += " No data in this range for: " + ", ".join(empty)
        self._set_busy(False, text)
        self.query_finished.emit()

    def _on_task_failed(self, generation: int, message: str) -> None:
        if generation == self._catalog_generation:
            self._catalog_generation = None
            self.status.setText(f"Signals unavailable: {message}")
            return
        if self._export_job is not None and generation == self._export_job[0]:
            self._finish_export()
            self.status.setText(f"Export failed: {message}")
            return
        if generation != self._current:
            return
        self._current = None
        self._set_busy(False, f"Query failed: {message}")
        self.query_failed.emit(message)

    def _draw(self, result: QueryResult) -> list[str]:
        """Draw a result; returns the labels of the signals that had no data."""
        series, empty = [], []
        groups: dict[str, list[Signal_]] = {}
        for label, (robot, key, buckets) in result.buckets.items():
            if not buckets:
                empty.append(label)
                continue
            unit = unit_of(key)
            groups.setdefault(unit, []).append((robot, key))
            series.append(SeriesData(label, unit, [b.start.timestamp() for b in buckets],
                                     [b.min for b in buckets], [b.mean for b in buckets],
                                     [b.max for b in buckets]))
        series.sort(key=lambda s: list(groups).index(s.unit))  # panels in first-seen order
        self.plot.set_data(series)
        self.plot.set_markers(result.markers)
        self.plot.set_spans(result.spans)
        self.plot.set_thresholds({unit: threshold_lines(signals, result.thresholds)
                                  for unit, signals in groups.items()})
        self._shown = result
        self.fit_button.setEnabled(bool(series))
        if not series:
            zone = local_zone_name(result.start)
            self.plot.show_message(
                f"No data in this range\n{_local(result.start)} – {_local(result.stop)} "
                f"({zone})")
            self.plot.set_x_range(result.start, result.stop)
            return empty
        self.plot.show_message("")
        if self._reset_view:
            asked = (result.stop - result.start).total_seconds()
            low, high = self.plot.data_extent(result.bucket_s()) or (0.0, asked)
            self.plot.fit_to_data(result.bucket_s(),
                                  quiet=high - low >= REFINE_BELOW_FRACTION * asked)
        return empty

    def shown(self) -> QueryResult | None:
        return self._shown

    def shutdown(self) -> None:
        self.cancel_query()
        self.cancel_export()
        self._pool.waitForDone(5000)


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime(TIME_FORMAT)


def install_history_page(window: Any, history_store: HistoryStore, database: Any = None
                         ) -> HistoryPage:
    page = HistoryPage(history_store, database)
    window.add_fixed_tab(page, "History")
    window.history_page = page
    return page
