"""A page of live charts for one robot, or several robots overlaid in the same charts."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import numpy as np
from PySide6.QtCore import QPoint, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from services.live.health import ThresholdLike
from services.live.model import RobotSnapshot, SignalKey
from widgets.live_header import RobotStateStrip
from widgets.live_plot import LivePlot
from widgets.live_plot_overlays import AlertMarker
from widgets.live_routing import Route, route_for, threshold_lines
from widgets.live_specs import (  # noqa: F401 - PlotSpec and SignalPattern: for callers
    DEFAULT_WINDOW_S,
    PLOT_SPECS,
    WINDOW_CHOICES_S,
    PlotSpec,
    SignalPattern,
    window_label,
)

logger = logging.getLogger(__name__)

GRID_COLUMNS = 2
GRID_SPACING_PX = 8
# GUI time one refresh may spend feeding plots (painting them costs about twice that);
# the rest waits one frame.
UPDATE_BUDGET_S = 0.004
HISTORY_SETTLE_MS = 300


class LivePage(QWidget):
    """Live charts of `robot_ids` in a grid (see PLOT_SPECS), with a window selector and
    pause.  Several robots are overlaid in each chart, the robot id in each legend name.

    Feed it like the plots: `update_data(data, now, stale)` with any keys (those not for
    this page are ignored); `keys_needed(available)` says which keys it wants.
    """

    window_changed = Signal(int)
    paused_changed = Signal(bool)
    # Paused and panned before the live buffers: (keys, start s, stop s, width px) of the
    # stored history that would fill the view (see set_history).
    history_needed = Signal(object, float, float, int)

    def __init__(self, robot_ids: list[str], parent: QWidget | None = None,
                 plot_specs: tuple[PlotSpec, ...] = PLOT_SPECS) -> None:
        super().__init__(parent)
        if not robot_ids:
            raise ValueError("a live page needs at least one robot")
        self._robot_ids = list(dict.fromkeys(robot_ids))
        self.plot_specs = plot_specs
        self._routes: dict[SignalKey, Route | None] = {}
        self._plot_keys: list[set[SignalKey]] = [set() for _ in plot_specs]
        self._paused = False
        self._syncing_range = False
        # robot -> (measurement, field) -> its limits; markers as handed over (see app/)
        self._thresholds: dict[str, Mapping[tuple[str, str], ThresholdLike]] = {}
        self._markers: list[AlertMarker] = []

        self.plots: list[LivePlot] = []
        grid_host = QWidget()
        grid = QGridLayout(grid_host)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(GRID_SPACING_PX)
        for index, spec in enumerate(plot_specs):
            plot = LivePlot(spec.title, spec.unit)
            plot.set_window(DEFAULT_WINDOW_S)
            plot.set_emphasize_hottest(spec.emphasize_hottest)
            plot.paused_changed.connect(
                lambda paused, source=plot: self._on_plot_paused(source, paused))
            plot.view_box.sigXRangeChanged.connect(self._on_plot_x_range_changed)
            grid.addWidget(plot, index // GRID_COLUMNS, index % GRID_COLUMNS)
            self.plots.append(plot)
        for column in range(GRID_COLUMNS):
            grid.setColumnStretch(column, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(grid_host)
        self._scroll = scroll
        # A pan is many small moves: ask for history once the view has settled.
        self._history_timer = QTimer(self)
        self._history_timer.setSingleShot(True)
        self._history_timer.setInterval(HISTORY_SETTLE_MS)
        self._history_timer.timeout.connect(self._on_view_settled)
        # Plots scrolled out of sight, or past a frame's budget, are fed later (see
        # _draw_pending).
        self._latest: tuple[float, dict] | None = None  # now, stale of the last update
        self._pending: dict[int, dict] = {}  # plot index -> the data it has not drawn
        self._next_plot = 0  # where the next round of feeding starts
        scroll.verticalScrollBar().valueChanged.connect(self._on_scrolled)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(8)
        self.state_strip = RobotStateStrip(self._robot_ids)
        layout.addLayout(self._build_toolbar())
        if len(self._robot_ids) > 1:
            layout.addWidget(self.state_strip)
        layout.addWidget(scroll, 1)

    def _build_toolbar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        bar.setSpacing(8)
        self.robots_label = QLabel()
        self.robots_label.setTextFormat(Qt.TextFormat.PlainText)
        font = self.robots_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.robots_label.setFont(font)
        self.robots_label.setText(", ".join(self._robot_ids))
        if len(self._robot_ids) > 1:
            self.robots_label.setToolTip("Curves of these robots are overlaid in each chart")
        bar.addWidget(self.robots_label)
        if len(self._robot_ids) > 1:
            overlaid = QLabel("overlaid")
            overlaid.setForegroundRole(QPalette.ColorRole.PlaceholderText)
            bar.addWidget(overlaid)
            bar.addStretch(1)
        else:  # one robot: its state fits next to its name
            bar.addWidget(self.state_strip, 1)

        window_caption = QLabel("Window:")
        self.window_combo = QComboBox()
        self.window_combo.setAccessibleName("Time window")
        self.window_combo.setToolTip("How much history the charts show")
        for seconds in WINDOW_CHOICES_S:
            self.window_combo.addItem(window_label(seconds), seconds)
        self.window_combo.setCurrentIndex(WINDOW_CHOICES_S.index(DEFAULT_WINDOW_S))
        self.window_combo.currentIndexChanged.connect(self._on_window_index_changed)
        window_caption.setBuddy(self.window_combo)
        bar.addWidget(window_caption)
        bar.addWidget(self.window_combo)

        self.pause_button = QToolButton()
        self.pause_button.setCheckable(True)
        self.pause_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self._update_pause_button()
        bar.addWidget(self.pause_button)
        return bar

    # --- public API -------------------------------------------------------------------

    def robot_ids(self) -> list[str]:
        return list(self._robot_ids)

    def plot(self, title: str) -> LivePlot:
        for spec, plot in zip(self.plot_specs, self.plots, strict=True):
            if spec.title == title:
                return plot
        raise KeyError(title)

    def window(self) -> int:
        return int(self.window_combo.currentData())

    def set_window(self, seconds: int) -> None:
        index = self.window_combo.findData(int(seconds))
        if index < 0:  # a window restored from settings that is not a standard choice
            self.window_combo.addItem(window_label(int(seconds)), int(seconds))
            index = self.window_combo.count() - 1
        self.window_combo.setCurrentIndex(index)  # emits window_changed via the handler

    def is_paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        self.pause_button.setChecked(paused)  # emits paused_changed via the handler

    def set_robot_states(self, snapshots: dict[str, RobotSnapshot | None]) -> None:
        """Each robot's health and reasons for the header (plain data from app/)."""
        self.state_strip.set_states(snapshots)

    def set_thresholds(self, robot_id: str,
                       thresholds: Mapping[tuple[str, str], ThresholdLike]) -> None:
        """`robot_id`'s limits per signal (measurement, field): drawn as dashed warning
        and critical lines in the charts of those signals."""
        if robot_id not in self._robot_ids or self._thresholds.get(robot_id) == thresholds:
            return
        self._thresholds[robot_id] = dict(thresholds)
        overlay = len(self._robot_ids) > 1
        for spec, plot in zip(self.plot_specs, self.plots, strict=True):
            plot.set_threshold_lines(threshold_lines(spec, self._thresholds, overlay))

    def set_alert_markers(self, markers: list[AlertMarker]) -> None:
        """Alerts of this page's robots, drawn where they were raised on the charts of
        their signal (all charts for robot-wide ones: offline, emergency stop)."""
        self._markers = [m for m in markers if m.robot_id in self._robot_ids]
        for spec, plot in zip(self.plot_specs, self.plots, strict=True):
            signals = {(p.measurement, p.field) for p in spec.signals}
            plot.set_alert_markers([m for m in self._markers
                                    if m.signal is None or m.signal in signals])

    def keys_needed(self, available: list[SignalKey]) -> list[SignalKey]:
        """The keys among `available` that this page draws."""
        return [key for key in available if self._route(key) is not None]

    def update_data(self, data: dict[SignalKey, tuple[np.ndarray, np.ndarray]], now: float,
                    stale: dict[SignalKey, float | None]) -> None:
        """Route each key's (times, values) to its plot; new keys get a curve on the way.

        `data` may hold only the keys that changed: the others keep what they show."""
        routed: list[dict[SignalKey, tuple[np.ndarray, np.ndarray]]] = [{} for _ in self.plots]
        grown: set[int] = set()
        for key, arrays in data.items():
            route = self._route(key)
            if route is None:
                continue
            if key not in self._plot_keys[route.plot_index]:
                self._plot_keys[route.plot_index].add(key)
                grown.add(route.plot_index)
            routed[route.plot_index][key] = arrays
        for plot_index in sorted(grown):
            self._set_plot_curves(plot_index)
        # New samples move the clock: every plot slides, so every plot has to redraw.
        if data:
            for index, plot_data in enumerate(routed):
                self._pending.setdefault(index, {}).update(plot_data)
        self._latest = (now, stale)
        self._draw_pending()

    def has_pending(self) -> bool:
        """Whether plots in sight still wait for data already handed over."""
        return any(self._on_screen(self.plots[index]) for index in self._pending)

    def _draw_pending(self) -> None:
        """Feed the plots what they wait for, within UPDATE_BUDGET_S.

        A plot out of sight is not redrawn (a page of servo charts is taller than the
        window); it keeps the newest arrays per key and is drawn when shown.  When two
        robots' samples arrive together, feeding and then painting every plot would
        take longer than a frame; plots past the budget wait for the next refresh
        (round robin, so none waits twice in a row).
        """
        if not self._pending or self._latest is None:
            return
        now, stale = self._latest
        started = time.perf_counter()
        count = len(self.plots)
        fed = False
        for index in sorted(self._pending, key=lambda i: (i - self._next_plot) % count):
            plot = self.plots[index]
            if not self._on_screen(plot):
                continue
            if fed and time.perf_counter() - started > UPDATE_BUDGET_S:
                break
            plot.update_data(self._pending.pop(index), now, stale)
            self._next_plot = (index + 1) % count
            fed = True

    def _on_screen(self, plot: LivePlot) -> bool:
        if not self.isVisible():
            return True  # nothing is drawn anyway; keep every plot current
        viewport = self._scroll.viewport()
        area = QRect(plot.mapTo(viewport, QPoint(0, 0)), plot.size())
        return area.intersects(viewport.rect())

    def _on_scrolled(self, _value: int) -> None:
        self._draw_pending()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._draw_pending()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self._draw_pending()

    def _set_plot_curves(self, plot_index: int) -> None:
        keys = sorted(self._plot_keys[plot_index], key=lambda k: self._routes[k].order)
        self.plots[plot_index].set_curves(keys, {key: self._routes[key].name for key in keys})

    def _route(self, key: SignalKey) -> Route | None:
        try:
            return self._routes[key]
        except KeyError:
            pass
        route = route_for(key, self._robot_ids, self.plot_specs)
        self._routes[key] = route
        return route

    # --- handlers ---------------------------------------------------------------------

    def _on_window_index_changed(self, _index: int) -> None:
        seconds = self.window()
        for plot in self.plots:
            plot.set_window(seconds)
        logger.debug("live page %s: window %d s", self._robot_ids, seconds)
        self.window_changed.emit(seconds)

    def _on_pause_toggled(self, paused: bool) -> None:
        self._paused = paused
        for plot in self.plots:
            plot.set_paused(paused)
        self._update_pause_button()
        self.paused_changed.emit(paused)

    def _on_plot_paused(self, source: LivePlot, paused: bool) -> None:
        # The operator panned or zoomed one chart: pause the whole page and line the
        # other charts up with it, so all show the same moment.
        if paused and not self._paused:
            self.set_paused(True)
            self._on_plot_x_range_changed(source.view_box, source.x_range())
        self._history_timer.start()

    def _on_plot_x_range_changed(self, view_box, x_range) -> None:
        # While paused, zooming one chart zooms all of them to the same times.
        if not self._paused or self._syncing_range:
            return
        self._history_timer.start()
        self._syncing_range = True
        try:
            for plot in self.plots:
                if plot.view_box is not view_box:
                    plot.view_box.setXRange(*x_range, padding=0)
        finally:
            self._syncing_range = False

    def _on_view_settled(self) -> None:
        if not self._paused:
            return
        start, stop = self.plots[0].x_range()
        oldest = min((t for t in (plot.oldest_live_time() for plot in self.plots)
                      if t is not None), default=stop)
        if start >= oldest:
            return  # all in view is live data
        keys = [key for plot in self.plots for key in plot.keys()]
        width = int(self.plots[0].view_box.width())
        self.history_needed.emit(keys, start, min(stop, oldest), max(width, 1))

    def set_history(self, data: dict[SignalKey, tuple[np.ndarray, np.ndarray]]) -> None:
        """Stored (times, values) per key, older than the live buffers (see history_needed);
        dropped when following the clock again."""
        if not self._paused:
            return  # resumed while it was loading
        for key, (times, values) in data.items():
            route = self._route(key)
            if route is not None:
                self.plots[route.plot_index].set_history(key, times, values)

    def _update_pause_button(self) -> None:
        paused = self.pause_button.isChecked()
        icon = (QStyle.StandardPixmap.SP_MediaPlay if paused
                else QStyle.StandardPixmap.SP_MediaPause)
        self.pause_button.setIcon(self.style().standardIcon(icon))
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setToolTip("Follow the clock again" if paused
                                     else "Freeze the charts to inspect them")
