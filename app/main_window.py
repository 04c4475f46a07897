"""The console's main window: the fleet overview, live pages as tabs, a status bar.

It takes the live model (FleetState) and the feed in its constructor and never touches
MQTT itself: one GUI-thread timer drains what the paho thread buffered, in one batch.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.theme import app_icon
from services.live.feed import LiveFeed, broker_status
from services.live.fleet import FleetState
from services.live.model import SignalKey
from services.live.pipeline import PipelineMonitor
from services.wire.topics import is_valid_robot_id
from widgets.banner import Banner
from widgets.fleet_model import FleetTableModel
from widgets.fleet_view import FleetView
from widgets.live_page import LivePage
from widgets.palette import ERROR_TEXT_COLOURS, WAIT_TEXT_COLOURS, is_dark
from widgets.pipeline_indicator import PipelineIndicator

logger = logging.getLogger(__name__)

REFRESH_INTERVAL_MS = 40  # 25 Hz: plots follow the data without burning the CPU
FLEET_REFRESH_EVERY_TICKS = 5  # the overview at 5 Hz is plenty for people
HISTORY_MESSAGE_MS = 8000
STALE_CHECK_EVERY_TICKS = 25  # staleness changes slowly; re-check once a second
SETTINGS_GROUP = "main_window"
SAMPLE_AGE_RED_S = 10.0  # robots report about every second: 10 s without a sample is news
NO_INGEST_TEXT = ("No ingest is running: nothing is being stored and no alerts can be "
                  "raised.")


def settle_heap() -> None:
    """Take what is alive now out of Python's full collections.

    A full collection walks every object (start-up leaves ~100k: Qt wrappers, pyqtgraph
    items), which took 50-150 ms under fleet load, and no thread runs meanwhile: not
    the redraw, not paho's.  The window, its pages and their plots live long; frozen,
    they are no longer walked.  Called after building them (a one-off collection
    first, so no garbage is frozen), and undone when a page closes.
    """
    gc.collect()
    gc.freeze()


class MainWindow(QMainWindow):
    live_page_opened = Signal(str)
    frame_applied = Signal(float)  # seconds the GUI-thread refresh took

    def __init__(self, fleet: FleetState, feed: LiveFeed, *, title_suffix: str = "",
                 open_settings: Callable[[], None] | None = None,
                 settings: QSettings | None = None,
                 pipeline: PipelineMonitor | None = None) -> None:
        super().__init__()
        self.fleet = fleet
        self.feed = feed
        self.pipeline = pipeline
        self._settings = settings or QSettings()
        self._open_settings = open_settings
        self.setWindowTitle("TonyPi Console" + (f" - {title_suffix}" if title_suffix else ""))
        self.setWindowIcon(app_icon())
        self.resize(1400, 900)

        self.fleet_model = FleetTableModel()
        self.fleet_view = FleetView(self.fleet_model)
        self.fleet_view.robot_opened.connect(self._on_robot_opened)
        self.tabs = QTabWidget()
        self.tabs.setTabsClosable(True)
        self.tabs.setDocumentMode(True)
        self.add_fixed_tab(self.fleet_view, "Fleet")
        self.tabs.tabCloseRequested.connect(self._on_tab_close_requested)
        self.broker_banner = Banner("broker_banner", "Connection settings..."
                                    if open_settings is not None else None)
        if open_settings is not None:
            self.broker_banner.action_clicked.connect(open_settings)
        self.pipeline_banner = Banner("pipeline_banner")
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        for widget in (self.broker_banner, self.pipeline_banner, self.tabs):
            column.addWidget(widget)
        self.setCentralWidget(central)
        self._build_status_bar()
        self._build_menus()

        self._tick = 0
        self._pipeline_heard = False  # connected since the reports were last listened to
        self.live_history = None  # see set_history_store
        self._page_keys_cache: dict[LivePage, tuple[int, list[SignalKey]]] = {}
        self._heap_mark: tuple[int, int] | None = None  # see _settle_new_objects
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_INTERVAL_MS)
        self._timer.timeout.connect(self._on_timer_ticked)
        self._timer.start()
        self._restore()
        settle_heap()

    # -- building ----------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        self.broker_label = QLabel("Broker: connecting...")
        self.rate_label = QLabel("0 msg/s")
        self.age_label = QLabel("no data yet")
        for label in (self.broker_label, self.rate_label, self.age_label):
            self.statusBar().addPermanentWidget(label)
        self.pipeline_indicator = PipelineIndicator()
        self.pipeline_indicator.setVisible(self.pipeline is not None)
        self.statusBar().addPermanentWidget(self.pipeline_indicator)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        if self._open_settings is not None:
            settings = QAction("&Connection settings...", self)
            settings.setShortcut(QKeySequence.StandardKey.Preferences)
            settings.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
            settings.triggered.connect(self._open_settings)
            file_menu.addAction(settings)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        view_menu = self.menuBar().addMenu("&View")
        fleet = QAction("&Fleet overview", self)
        fleet.setShortcut(QKeySequence("Ctrl+1"))
        fleet.triggered.connect(lambda: self.tabs.setCurrentIndex(0))
        view_menu.addAction(fleet)
        open_live = QAction("Open &live page for selection", self)
        open_live.setShortcut(QKeySequence("Ctrl+L"))
        open_live.triggered.connect(self._on_open_selected_triggered)
        view_menu.addAction(open_live)
        close_tab = QAction("&Close live page", self)
        close_tab.setShortcut(QKeySequence.StandardKey.Close)
        close_tab.triggered.connect(lambda: self._on_tab_close_requested(self.tabs.currentIndex()))
        view_menu.addAction(close_tab)
        next_tab = QAction("&Next page", self)
        next_tab.setShortcut(QKeySequence("Ctrl+PgDown"))
        next_tab.triggered.connect(
            lambda: self.tabs.setCurrentIndex((self.tabs.currentIndex() + 1) % self.tabs.count()))
        view_menu.addAction(next_tab)

        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About", self)
        about.triggered.connect(lambda: QMessageBox.about(
            self, "TonyPi Console", "Live monitoring for a fleet of TonyPi robots."))
        help_menu.addAction(about)

    # -- live pages --------------------------------------------------------------------
    def live_pages(self) -> list[LivePage]:
        return [self.tabs.widget(i) for i in range(1, self.tabs.count())
                if isinstance(self.tabs.widget(i), LivePage)]

    def open_live_page(self, robot_ids: list[str]) -> LivePage:
        for index in range(1, self.tabs.count()):
            page = self.tabs.widget(index)
            if isinstance(page, LivePage) and page.robot_ids() == list(robot_ids):
                self.tabs.setCurrentIndex(index)
                return page
        page = LivePage(list(robot_ids))
        page.window_changed.connect(lambda _s: self._refresh_page(page, time.time(), True))
        self.tabs.addTab(page, " + ".join(robot_ids))
        self.tabs.setCurrentWidget(page)
        if self.live_history is not None:
            self.live_history.attach(page)
        self._refresh_page(page, time.time(), force=True)
        settle_heap()
        self.live_page_opened.emit(",".join(robot_ids))
        return page

    def add_fixed_tab(self, page: QWidget, title: str, index: int = -1) -> int:
        """A tab that is part of the window (no close button), at `index` or last."""
        index = self.tabs.insertTab(index, page, title)
        self.tabs.tabBar().setTabButton(index, self.tabs.tabBar().ButtonPosition.RightSide,
                                        None)
        return index

    def set_history_store(self, store) -> None:
        """Let paused live pages continue into stored history when panned back."""
        from app.live_history import LiveHistoryLoader

        self.live_history = LiveHistoryLoader(store, self)
        self.live_history.history_failed.connect(
            lambda text: self.statusBar().showMessage(text, HISTORY_MESSAGE_MS))
        for page in self.live_pages():
            self.live_history.attach(page)

    def _on_robot_opened(self, robot_id: str) -> None:
        self.open_live_page([robot_id])

    def _on_open_selected_triggered(self) -> None:
        robots = self.fleet_view.selected_robots()
        if robots:
            self.open_live_page(robots)

    def _on_tab_close_requested(self, index: int) -> None:
        # Only live pages close; the fleet and alerts pages are part of the window.
        if isinstance(self.tabs.widget(index), LivePage):
            page = self.tabs.widget(index)
            self.tabs.removeTab(index)
            self._page_keys_cache.pop(page, None)
            page.deleteLater()
            # The page's objects may be frozen (see settle_heap): let the collector
            # have them once Qt has deleted the page.
            gc.unfreeze()
            QTimer.singleShot(0, settle_heap)

    # -- the one GUI-thread refresh ----------------------------------------------------
    def _on_timer_ticked(self) -> None:
        started = time.perf_counter()
        now = time.time()
        self._tick += 1
        dirty = self.fleet.take_dirty()
        stale_check = self._tick % STALE_CHECK_EVERY_TICKS == 0
        current = self.tabs.currentWidget()
        for page in self.live_pages():
            # Hidden pages keep their buffers; they are drawn when shown.
            if page is current:
                self._refresh_page(page, now, force=stale_check, dirty=dirty)
        if self._tick % FLEET_REFRESH_EVERY_TICKS == 0:
            self.fleet_model.set_snapshots(self.fleet.snapshots(now), datetime.now(UTC))
            self._refresh_status_bar(now)
        if stale_check:
            self._settle_new_objects()
        self.frame_applied.emit(time.perf_counter() - started)

    def _settle_new_objects(self) -> None:
        # New robots bring signals (fleet) and curves (pages): long-lived objects that
        # full collections would walk again and again; freeze them once they are made.
        mark = (self.fleet.signal_generation,
                sum(len(plot.keys()) for page in self.live_pages() for plot in page.plots))
        if mark != self._heap_mark:
            self._heap_mark = mark
            settle_heap()

    def _refresh_page(self, page: LivePage, now: float, force: bool = False,
                      dirty: set[SignalKey] | None = None) -> None:
        keys = self._page_keys(page)
        changed = keys if force or dirty is None else [key for key in keys if key in dirty]
        if not changed and not page.has_pending():
            return
        data = self.fleet.read(changed, since=now - page.window()) if changed else {}
        page.update_data(data, now, self.fleet.stale_ages(keys, now))

    def _page_keys(self, page: LivePage) -> list[SignalKey]:
        # Which keys a page draws changes only when robots add signals; working it out
        # (sorting, matching patterns) 25 times a second would be a waste.
        generation = self.fleet.signal_generation
        cached = self._page_keys_cache.get(page)
        if cached is None or cached[0] != generation:
            available = [key for robot in page.robot_ids() for key in self.fleet.signals(robot)]
            cached = self._page_keys_cache[page] = (generation, page.keys_needed(available))
        return cached[1]

    def _refresh_status_bar(self, now: float) -> None:
        stats = self.feed.stats()
        broker = broker_status(stats, now)
        dark = is_dark(self)
        colours = {"ok": "", "warning": WAIT_TEXT_COLOURS[dark], "error": ERROR_TEXT_COLOURS[dark]}
        self.broker_label.setText(broker.line)
        _set_colour(self.broker_label, colours[broker.level])
        if broker.banner:
            self.broker_banner.show_message(broker.level, broker.banner)
        else:
            self.broker_banner.clear()
        # A sample is one value of one signal, as the benchmark counts them.
        self.rate_label.setText(f"{stats.messages_per_s:,.0f} msg/s, "
                                f"{stats.values_per_s:,.0f} samples/s")
        age = stats.newest_sample_age_s
        self.age_label.setText("no data yet" if age is None else f"freshest sample {age:.1f} s old")
        _set_colour(self.age_label, colours["error"] if age is not None
                    and age > SAMPLE_AGE_RED_S else "")
        self._refresh_pipeline(stats.state == "connected", now)

    def _refresh_pipeline(self, broker_connected: bool, now: float) -> None:
        if self.pipeline is None:
            return
        if not broker_connected:
            # Health reports come through the broker: without it nothing can be said.
            self._pipeline_heard = False
            self.pipeline_indicator.set_status(None, "no broker")
            self.pipeline_banner.clear()
            return
        if not self._pipeline_heard:
            # (Re)connected: the retained reports are on their way; give them time.
            self._pipeline_heard = True
            self.pipeline.restart_grace(now)
        status = self.pipeline.status(now)
        self.pipeline_indicator.set_status(status)
        if status.no_ingest:
            down = [item for item in status.instances if not item.up]
            detail = ("; ".join(f"{item.instance}: {item.why_down}" for item in down)
                      if down else "no ingest instance has reported")
            self.pipeline_banner.show_message("error", f"{NO_INGEST_TEXT} ({detail})")
        else:
            self.pipeline_banner.clear()

    # -- persistence -------------------------------------------------------------------
    def _restore(self) -> None:
        self._settings.beginGroup(SETTINGS_GROUP)
        geometry = self._settings.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        pages = self._settings.value("live_pages", [])
        current = int(self._settings.value("current_tab", 0) or 0)
        self._settings.endGroup()
        # QSettings hands back None, a str or a list depending on what was stored.
        entries = pages if isinstance(pages, list) else [pages] if isinstance(pages, str) else []
        for entry in entries:
            robots = [r for r in str(entry).split(",") if is_valid_robot_id(r)]
            if robots:
                self.open_live_page(robots)
        self.tabs.setCurrentIndex(min(current, self.tabs.count() - 1))

    def save_state(self) -> None:
        self._settings.beginGroup(SETTINGS_GROUP)
        self._settings.setValue("geometry", self.saveGeometry())
        self._settings.setValue("live_pages", [",".join(p.robot_ids()) for p in self.live_pages()])
        self._settings.setValue("current_tab", self.tabs.currentIndex())
        self._settings.endGroup()
        self._settings.sync()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self._timer.stop()
        gc.unfreeze()
        self.save_state()
        super().closeEvent(event)


def _set_colour(label: QLabel, colour: str) -> None:
    style = f"color: {colour}; font-weight: bold;" if colour else ""
    if label.styleSheet() != style:
        label.setStyleSheet(style)
