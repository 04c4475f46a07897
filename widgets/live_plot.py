"""One live chart: one quantity, many curves (one per SignalKey), following the clock.

Built to be redrawn 20-30 times a second: curves (see widgets.live_curve) are created
once in `set_curves` and only fed afterwards (and not even that when a curve's data did
not change), with width-1 pens, clip-to-view and peak downsampling so tens of curves of
thousands of points cost little.  Times are UTC epoch seconds; the axis shows local clock
time.
"""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QGraphicsItem, QSizePolicy, QVBoxLayout, QWidget

from services.live.model import SignalKey
from widgets.live_crosshair import CrosshairMixin
from widgets.live_curve import BackgroundCurves, LiveCurve
from widgets.live_plot_items import (
    CurveStyle,
    LegendSample,
    fitted_range,
)
from widgets.live_plot_legend import (
    LEFT_AXIS_WIDTH_PX,
    LEGEND_FONT_PT,
    PLOT_MIN_HEIGHT_PX,
    LegendMixin,
)
from widgets.live_plot_overlays import AlertMarker, PlotOverlays, ThresholdLine
from widgets.time_axis import SlidingTimeAxis

logger = logging.getLogger(__name__)

DEFAULT_WINDOW_S = 60
CROSSHAIR_RATE_HZ = 30
GRID_STRENGTH = 0.15  # grid colour: this much of the axis colour over the background


class LivePlot(LegendMixin, CrosshairMixin, QWidget):
    """A titled plot of one quantity with a legend, a crosshair read-out and a time window.

    `paused_changed(True)` is emitted when the operator pans or zooms (which pauses
    following so the view stays where they put it); `set_paused` never emits.
    """

    paused_changed = Signal(bool)

    def __init__(self, title: str, unit: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = title
        self._unit = unit
        self._window_s = DEFAULT_WINDOW_S
        self._paused = False
        self._now: float | None = None
        self._keys: list[SignalKey] = []
        self._names: dict[SignalKey, str] = {}
        self._curves: dict[SignalKey, LiveCurve] = {}
        self._colors: dict[SignalKey, QColor] = {}  # the crosshair's swatches
        self._styles: dict[SignalKey, CurveStyle] = {}
        self._emphasize_hottest = False
        self._hottest: frozenset[SignalKey] = frozenset()
        self._legend_keys: list[SignalKey] = []
        self._legend_words: dict[SignalKey, str] = {}
        self._data: dict[SignalKey, tuple[np.ndarray, np.ndarray]] = {}
        self._signature: dict[SignalKey, tuple[int, float, float]] = {}
        self._followed_x: tuple[float, float] | None = None  # the ranges _follow set last
        self._followed_y: tuple[float, float] | None = None
        self._stale: dict[SignalKey, float | None] = {}
        self._legend_text: dict[SignalKey, str] = {}
        self._setting_range = False
        self._crosshair_x: float | None = None

        self.plot_widget = pg.PlotWidget(axisItems={"bottom": SlidingTimeAxis()})
        self.plot_widget.setSizePolicy(QSizePolicy.Policy.Expanding,
                                       QSizePolicy.Policy.Expanding)
        self.plot_widget.setMinimumHeight(PLOT_MIN_HEIGHT_PX)
        self.plot_item: pg.PlotItem = self.plot_widget.getPlotItem()
        self.view_box: pg.ViewBox = self.plot_item.getViewBox()
        self._history = BackgroundCurves(self.plot_item)  # stored samples before the live ones
        self.plot_item.showGrid(x=True, y=True)  # in a solid colour: see _apply_palette
        self.plot_item.hideButtons()  # the "A" button fights with following the clock
        self.plot_item.setMenuEnabled(False)
        self.view_box.setAutoVisible(y=True)  # y fits what is in the window, not all data
        self.view_box.setMouseEnabled(x=True, y=False)
        self.view_box.sigRangeChangedManually.connect(self._on_range_changed_manually)
        left = self.plot_item.getAxis("left")
        left.enableAutoSIPrefix(False)  # "k%" or "m°C" would only confuse
        # Major ticks only: the minor levels' grid lines cost more than all the curves
        # (measured: a page of 8 plots paints in 28 ms instead of 60 ms) and add clutter.
        left.setStyle(maxTickLevel=0)
        left.setWidth(LEFT_AXIS_WIDTH_PX)
        # The value axis (and its grid) is repainted with every frame but rarely
        # changes: as a pixmap, it is redrawn only when its range moves.  The time axis
        # moves with nearly every frame (no cache: it would be redrawn twice), and takes
        # no SI prefix (it costs every move).
        left.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        # No SI prefix anywhere, hidden top and right axes included: they follow the
        # view too, and re-rendering their (unseen) label on every move cost 3 % of the
        # GUI thread.
        for name in ("bottom", "top", "right"):
            self.plot_item.getAxis(name).enableAutoSIPrefix(False)
        if unit:
            self.plot_item.setLabel("left", unit)

        self.legend = pg.LegendItem(sampleType=LegendSample, horSpacing=4, verSpacing=-6,
                                    labelTextSize=f"{LEGEND_FONT_PT}pt", frame=False)
        # In the plot's layout below the axis, so the legend never hides data; as wide
        # as its entries, left-aligned under the data.
        self.legend.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.plot_item.layout.addItem(self.legend, 4, 1)
        self.plot_item.layout.setAlignment(self.legend, Qt.AlignmentFlag.AlignLeft)
        self._legend_columns = 1

        self._vline = pg.InfiniteLine(angle=90, movable=False)
        self._vline.setZValue(1000)
        self._readout = pg.TextItem(anchor=(0, 0))
        self._readout.setZValue(1001)
        self._vline.hide()
        self.plot_item.addItem(self._vline, ignoreBounds=True)
        # The box is placed in the view box's pixels, not in data coordinates, so it
        # stays put while the ranges move.
        self._readout.hide()
        self._readout.setParentItem(self.view_box)
        self.overlays = PlotOverlays(self.plot_item)
        self._mouse_proxy = pg.SignalProxy(self.plot_widget.scene().sigMouseMoved,
                                           rateLimit=CROSSHAIR_RATE_HZ,
                                           slot=self._on_mouse_moved)
        self.plot_widget.installEventFilter(self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)
        self._apply_palette()

    # --- curves and data --------------------------------------------------------------

    def keys(self) -> list[SignalKey]:
        return list(self._keys)

    def curve(self, key: SignalKey) -> LiveCurve:
        return self._curves[key]

    def legend_text(self, key: SignalKey) -> str:
        return self._legend_text[key]

    def set_curves(self, keys: list[SignalKey],
                   names: dict[SignalKey, str] | None = None) -> None:
        """Show one curve per key (in this order); existing curves are kept with their data."""
        keys = list(dict.fromkeys(keys))
        names = names or {}
        for key in [k for k in self._curves if k not in keys]:
            curve = self._curves.pop(key)
            self.legend.removeItem(curve)
            self.plot_item.removeItem(curve)
            self._history.remove(key)
            for store in (self._data, self._signature, self._stale, self._legend_text):
                store.pop(key, None)
        self._keys = keys
        self._names = {key: names.get(key, key.label) for key in keys}
        for key in keys:
            if key not in self._curves:
                curve = LiveCurve(self.view_box)
                self.plot_item.addItem(curve)
                self._curves[key] = curve
        self._hottest = self._hottest & frozenset(keys)
        self._restyle()
        logger.debug("%s: %d curve(s)", self._title, len(keys))

    def set_threshold_lines(self, lines: list[ThresholdLine]) -> None:
        """Dashed warning (amber) and critical (red) lines; the y range keeps the warning
        ones in view so the distance to the limit can be read."""
        self.overlays.set_thresholds(lines)
        self._follow(force=True)

    def threshold_lines(self) -> tuple[ThresholdLine, ...]:
        return self.overlays.thresholds

    def set_alert_markers(self, markers: list[AlertMarker]) -> None:
        self.overlays.set_markers(markers)

    def is_waiting(self) -> bool:
        """Whether the chart shows "waiting for data" (no curve has a sample)."""
        return self.overlays.is_waiting()

    def _update_waiting(self) -> None:
        waiting = not any(len(times) for times, _ in self._data.values())
        color = self.palette().color(QPalette.ColorRole.PlaceholderText)
        self.overlays.set_waiting(waiting, color)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._layout_legend()

    def update_data(self, data: dict[SignalKey, tuple[np.ndarray, np.ndarray]], now: float,
                    stale: dict[SignalKey, float | None]) -> None:
        """Feed curves (times in epoch seconds, values) and move the window to `now`.

        `stale` maps a key to its age in seconds when it is stale (grey dashed curve,
        age in the legend); keys absent or None are fresh.  While paused the picture is
        frozen, so what the operator inspects cannot scroll out of the ring buffers.
        """
        if self._paused:
            return
        self._now = now
        for key, (times, values) in data.items():
            curve = self._curves.get(key)
            if curve is None:
                continue
            # Append-only buffers: same length and ends means same data.
            signature = (len(times), float(times[0]), float(times[-1])) if len(times) else (0,)
            if self._signature.get(key) != signature:
                self._signature[key] = signature
                self._data[key] = (times, values)
                curve.set_samples(times, values)
        self._follow()
        # Applied now, not (as pyqtgraph would) while painting, where the curves' new
        # geometry makes the scene paint the plot a second time.
        self.view_box.updateMatrix()
        relayout = False
        for key in self._keys:
            age = stale.get(key)
            if (age is None) != (self._stale.get(key) is None):
                self._stale[key] = age
                self._apply_pen(key)
            self._stale[key] = age
            text = self._display_name(key)
            if text != self._legend_text[key]:
                self._legend_text[key] = text
                self._set_legend_label(key)
                relayout = True
        if self._emphasize_hottest:
            self._update_hottest()
        if relayout:
            self._layout_legend()  # a longer "(stale ...)" must not overflow the plot
        self._update_waiting()
        if self._crosshair_x is not None:  # new values under the cursor, box re-placed
            self.show_crosshair_at(self._crosshair_x)

    def data(self, key: SignalKey) -> tuple[np.ndarray, np.ndarray] | None:
        return self._data.get(key)

    def is_stale(self, key: SignalKey) -> bool:
        return self._stale.get(key) is not None

    # --- time window --------------------------------------------------------------------

    def window(self) -> int:
        return self._window_s

    def set_window(self, seconds: int) -> None:
        self._window_s = int(seconds)
        if not self._paused:
            self._follow(force=True)

    def is_paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        """Pause: stop following the clock and keep the current zoom.  Resume: follow again."""
        if paused == self._paused:
            return
        self._paused = paused
        if paused:
            self._fit_y_while_paused()
        else:
            self.clear_history()  # following again: the live window is all there is
            self._follow(force=True)

    def x_range(self) -> tuple[float, float]:
        low, high = self.view_box.viewRange()[0]
        return float(low), float(high)

    def _follow(self, force: bool = False) -> None:
        """Show the window ending now, y fitted to the curves shown.

        x moves in whole pixels (1 min on 600 px is 0.4 px per frame at 25 Hz, and each
        move re-processes axes and curves); new samples are drawn at once regardless.
        The curves hold exactly the window, so y fits their min and max, kept per data
        update, not pyqtgraph's auto-range, which asks every curve on every frame.
        """
        if self._paused or self._now is None:
            return
        x_range = self._followed_x
        pixel_s = self._window_s / max(self.view_box.width(), 1.0)
        if force or x_range is None or self._now - x_range[1] >= pixel_s:
            x_range = (self._now - self._window_s, self._now)
        bounds = [curve.y_bounds() for curve in self._curves.values() if curve.isVisible()]
        data = fitted_range(bounds, 0.0)
        y_range = fitted_range(bounds + self.overlays.y_bounds(data),
                               self.view_box.suggestPadding(1))
        if not force and (x_range, y_range) == (self._followed_x, self._followed_y):
            return
        self._followed_x, self._followed_y = x_range, y_range
        # Auto-range is off while following; turning it off again on every move cost
        # more than the move (it is only on after a pause).
        disable = any(self.view_box.state["autoRange"])
        self._setting_range = True
        try:
            if y_range is None:
                self.view_box.setRange(xRange=x_range, padding=0, disableAutoRange=disable)
            else:
                self.view_box.setRange(xRange=x_range, yRange=y_range, padding=0,
                                       disableAutoRange=disable)
        finally:
            self._setting_range = False

    def _fit_y_while_paused(self) -> None:
        # Zooming x while paused fits y to what is in view, as pyqtgraph does it.
        self.view_box.enableAutoRange(axis="y")

    def _on_range_changed_manually(self, _mask) -> None:
        if not self._paused and not self._setting_range:
            self._paused = True
            self._fit_y_while_paused()
            logger.debug("%s: paused by pan/zoom", self._title)
            self.paused_changed.emit(True)

    # --- history before the live window -------------------------------------------------

    def oldest_live_time(self) -> float | None:
        """Epoch s of the oldest sample in the live curves, None without any."""
        starts = [float(times[0]) for times, _ in self._data.values() if len(times)]
        return min(starts) if starts else None

    def set_history(self, key: SignalKey, times: np.ndarray, values: np.ndarray) -> None:
        """Draw stored samples of `key` (older than its live ones) in its colour, behind
        the live curve and not in the legend: panning back continues the same line."""
        if key in self._curves:
            self._history.set(key, self._curves[key].opts["pen"], times, values)

    def history(self, key: SignalKey) -> tuple[np.ndarray, np.ndarray] | None:
        return self._history.samples(key)

    def clear_history(self) -> None:
        self._history.clear()

    # --- palette ------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        self.plot_widget.setBackground(base)
        # Grid lines in a solid colour mixed from the background, not a translucent one:
        # blending them over the whole plot cost a third of each paint (measured: a page
        # of 6 plots paints in 14 ms instead of 17 ms per frame).
        grid = QColor.fromRgbF(*(b + (m - b) * GRID_STRENGTH for b, m in
                                 zip(base.getRgbF()[:3], muted.getRgbF()[:3], strict=True)))
        for name in ("left", "bottom"):
            axis = self.plot_item.getAxis(name)
            axis.setPen(muted)
            axis.setTextPen(text)
            axis.setTickPen(pg.mkPen(grid, width=1))
            axis.setStyle(tickAlpha=255)
        self.plot_item.setTitle(self._title, color=text.name(), size="10pt", bold=True)
        self.legend.setLabelTextColor(text)
        if self._keys:  # colours chosen for the old background may not read on the new one
            self._restyle()
        self._update_waiting()
        self._vline.setPen(pg.mkPen(muted, width=1, style=Qt.PenStyle.DashLine))
        fill = QColor(base)
        fill.setAlpha(225)
        self._readout.fill = pg.mkBrush(fill)
        self._readout.border = pg.mkPen(muted)

    def _dark_background(self) -> bool:
        return self.palette().color(QPalette.ColorRole.Base).lightnessF() < 0.5
