"""History chart: one panel per unit (°C, %, V...), x-linked; per signal a mean line
inside its min/max band, plus alert markers, job spans and threshold lines.

Signals of different units never share an axis: a panel per unit, stacked, each with
its unit on its y axis, reads better than several right-hand axes over one plot.  The
band keeps spikes visible however coarse the buckets are.  Times are UTC epoch seconds;
the time axis shows local clock time and says which zone.  When the user zooms or pans,
`range_changed` fires once the view has been still for RANGE_DEBOUNCE_MS so the page can
re-query at the finer resolution without a query per mouse-wheel step.  Colours come
from the widget's palette (light or dark).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from widgets.history_plot_items import (
    SeriesData,
    SeriesItems,
    TimeLike,
    epoch_s,
    marker_line,
    new_series_items,
    span_region,
    threshold_line,
)
from widgets.live_plot_items import curve_colors
from widgets.time_range import local_zone_name

logger = logging.getLogger(__name__)

RANGE_DEBOUNCE_MS = 300
PLOT_MIN_HEIGHT_PX = 240
LEFT_AXIS_WIDTH_PX = 64  # the same for every panel, so their time axes line up
Y_FIT_PADDING = 0.06  # of the data's span, above and below
GRID_ALPHA = 0.3
NO_UNIT_LABEL = "value (no unit)"
HINT_MARGIN_PX = 6
LEGEND_COLUMNS = 3

__all__ = ["HistoryPlot", "SeriesData"]


class HistoryPlot(QWidget):
    """set_data / set_markers / set_spans / set_thresholds / fit_to_data / show_message;
    emits range_changed(start_s, stop_s, width_px) after the operator zoomed or panned."""

    range_changed = Signal(float, float, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._view = pg.GraphicsLayoutWidget()
        self._view.setMinimumHeight(PLOT_MIN_HEIGHT_PX)
        self._panels: dict[str, pg.PlotItem] = {}  # unit -> panel, top to bottom
        self._series: dict[str, SeriesItems] = {}
        self._markers: list[tuple[TimeLike, str, str]] = []
        self._spans: list[tuple[TimeLike, TimeLike, str]] = []
        self._thresholds: dict[str, list[tuple[float, str]]] = {}
        self._overlay_items: list[tuple[pg.PlotItem, pg.GraphicsObject]] = []
        self._quiet = False  # True while we move the view ourselves: no re-query for that
        self._debounce = QTimer(self, singleShot=True, interval=RANGE_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._on_range_settled)
        self._message = QLabel(self._view)  # over the chart: "No data in this range"
        self._message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._message.setWordWrap(True)
        self._message.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._message.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._view)
        self._build_panels([])

    # -- data -------------------------------------------------------------------------
    def set_data(self, series: Sequence[SeriesData]) -> None:
        """Show exactly these signals.  The view (zoom) is kept; panels are rebuilt
        only when the set of units changes."""
        units = list(dict.fromkeys(s.unit for s in series))
        if units != [u for u in self._panels if u is not None]:
            x_range = self.x_range()
            self._build_panels(units)
            self.set_x_range(*x_range)
        for key in [k for k in self._series if k not in {s.key for s in series}]:
            items = self._series.pop(key)
            panel = self._panels[items.data.unit]
            for item in (items.band, items.low, items.high, items.mean):
                panel.removeItem(item)
            self._legends[items.data.unit].removeItem(items.mean)
        colors = curve_colors(len(series), self._dark())
        for color, data in zip(colors, series, strict=True):
            items = self._series.get(data.key)
            if items is None:
                items = new_series_items(self._panels[data.unit], data, color)
                self._series[data.key] = items
                self._legends[data.unit].addItem(items.mean, data.key)
            else:
                items.set_data(data)
                items.set_color(color)

    def series_keys(self) -> list[str]:
        return list(self._series)

    def series_data(self, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        data = self._series[key].data
        return data.times, data.mins, data.means, data.maxs

    def units(self) -> list[str]:
        """The unit of each panel, top to bottom (one y axis each)."""
        return [unit for unit in self._panels if unit is not None]

    def axis_label(self, unit: str) -> str:
        return self._panels[unit].getAxis("left").labelText

    def y_range(self, unit: str) -> tuple[float, float]:
        low, high = self._panels[unit].getViewBox().viewRange()[1]
        return float(low), float(high)

    def _build_panels(self, units: list[str]) -> None:
        self._view.clear()
        self._panels = {}
        self._overlay_items = []
        self._hints: dict[str | None, pg.TextItem] = {}
        self._legends: dict[str | None, pg.LegendItem] = {}
        for row, unit in enumerate(units or [None]):
            # each panel's legend in a row above it: over the plot it hid data and markers
            legend = pg.LegendItem(colCount=LEGEND_COLUMNS, verSpacing=-4)
            self._view.addItem(legend, row=2 * row, col=0)
            self._legends[unit] = legend
            axis = pg.DateAxisItem(orientation="bottom")
            panel = self._view.addPlot(row=2 * row + 1, col=0, axisItems={"bottom": axis})
            panel.showGrid(x=True, y=True, alpha=GRID_ALPHA)
            panel.getAxis("left").setWidth(LEFT_AXIS_WIDTH_PX)
            panel.setMenuEnabled(False)
            if unit is None:  # nothing to show: no made-up 0..1 scale
                panel.getAxis("left").setStyle(showValues=False)
            else:
                panel.setLabel("left", unit or NO_UNIT_LABEL)
            if row:
                panel.setXLink(self._panels[units[0]])
            self._panels[unit] = panel
        bottom = list(self._panels.values())[-1]
        for panel in list(self._panels.values())[:-1]:  # one row of times, at the bottom
            panel.getAxis("bottom").setStyle(showValues=False)
        bottom.setLabel("bottom", f"time ({local_zone_name(datetime.now(UTC))})")
        top = list(self._panels.values())[0]
        top.getViewBox().sigXRangeChanged.connect(self._on_x_range_changed)
        self._series = {}
        self._apply_palette()
        self._draw_overlays()

    # -- overlays ---------------------------------------------------------------------
    def set_markers(self, markers: Sequence[tuple[TimeLike, str, str]]) -> None:
        """Vertical lines at (time, label, kind); kind "raised" red, "resolved" green."""
        self._markers = sorted(markers, key=lambda marker: epoch_s(marker[0]))
        self._draw_overlays()

    def markers(self) -> list[tuple[float, str]]:
        """(time, full label) of the markers drawn in the top panel."""
        return [(item.value(), item.full_label) for panel, item in self._overlay_items
                if panel is self._top() and isinstance(item, pg.InfiniteLine)
                and item.angle == 90]

    def marker_labels(self) -> list[tuple[str, str]]:
        """(label as drawn, tooltip) of the top panel's markers and job spans."""
        result = []
        for panel, item in self._overlay_items:
            if panel is not self._top():
                continue
            text = getattr(item, "text", None)
            if text is not None and not hasattr(item, "kind"):  # not a threshold line
                result.append((text.toPlainText(), text.toolTip()))
        return result

    def set_spans(self, spans: Sequence[tuple[TimeLike, TimeLike, str]]) -> None:
        """Shaded, non-movable regions for job spans."""
        self._spans = list(spans)
        self._draw_overlays()

    def spans(self) -> list[tuple[float, float]]:
        return [tuple(item.getRegion()) for panel, item in self._overlay_items
                if panel is self._top() and isinstance(item, pg.LinearRegionItem)]

    def set_thresholds(self, lines_by_unit: dict[str, Sequence[tuple[float, str]]]) -> None:
        """Horizontal (value, "warning" | "critical") lines, in the panel of each unit."""
        self._thresholds = {unit: list(lines) for unit, lines in lines_by_unit.items()}
        self._draw_overlays()

    def thresholds(self, unit: str) -> list[tuple[float, str]]:
        return [(item.value(), item.kind) for panel, item in self._overlay_items
                if panel is self._panels.get(unit) and hasattr(item, "kind")]

    def _draw_overlays(self) -> None:
        for panel, item in self._overlay_items:
            panel.removeItem(item)
        self._overlay_items = []
        base = self.palette().color(QPalette.ColorRole.Base)
        top = self._top()
        for unit, panel in self._panels.items():
            labelled = panel is top
            for start, end, label in self._spans:
                self._add_overlay(panel, span_region(start, end, label, labelled=labelled))
            for index, (moment, label, kind) in enumerate(self._markers):
                self._add_overlay(panel, marker_line(moment, label, kind, index,
                                                     labelled=labelled, base=base))
            for value, kind in self._thresholds.get(unit, []) if unit is not None else []:
                self._add_overlay(panel, threshold_line(value, kind, unit, base))
        self._update_hints()

    def threshold_hint(self, unit: str) -> str:
        hint = self._hints.get(unit)
        return hint.toPlainText() if hint is not None and hint.isVisible() else ""

    def _update_hints(self, *_args: object) -> None:
        """Name the threshold lines the fitted view leaves out ("warning 60 °C above"):
        the view fits the data, but an operator still wants to know how far off they are."""
        text_color = self.palette().color(QPalette.ColorRole.PlaceholderText)
        for unit, panel in self._panels.items():
            hint = self._hints.get(unit)
            if hint is None:
                hint = self._hints[unit] = pg.TextItem(anchor=(1, 1))
                hint.setParentItem(panel.getViewBox())  # view pixels, not data coordinates
                panel.getViewBox().sigRangeChanged.connect(self._update_hints)
                panel.getViewBox().sigResized.connect(self._update_hints)
            low, high = panel.getViewBox().viewRange()[1]
            outside = [f"{kind} {value:g} {unit} {'above' if value > high else 'below'}"
                       for value, kind in self._thresholds.get(unit, [])
                       if unit is not None and not low <= value <= high]
            hint.setText("; ".join(outside), color=text_color)
            hint.setVisible(bool(outside))
            view = panel.getViewBox()  # bottom right: the legend and markers are on top
            hint.setPos(view.width() - HINT_MARGIN_PX, view.height() - HINT_MARGIN_PX)

    def _add_overlay(self, panel: pg.PlotItem, item: pg.GraphicsObject) -> None:
        panel.addItem(item, ignoreBounds=True)  # overlays never stretch the fitted view
        self._overlay_items.append((panel, item))

    def _top(self) -> pg.PlotItem:
        return next(iter(self._panels.values()))

    # -- message ----------------------------------------------------------------------
    def show_message(self, text: str) -> None:
        """A notice over the chart ("No data in this range"); "" hides it."""
        self._message.setText(text)
        self._message.setVisible(bool(text))
        self._place_message()

    def message(self) -> str:
        return self._message.text() if not self._message.isHidden() else ""

    def _place_message(self) -> None:
        self._message.setGeometry(0, 0, self._view.width(), self._view.height() // 2 * 2 - 40)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._place_message()

    # -- view range -------------------------------------------------------------------
    def set_x_range(self, start: TimeLike, stop: TimeLike) -> None:
        """Show [start, stop) without emitting range_changed (the page asked for it)."""
        self._quiet = True
        try:
            self._top().setXRange(epoch_s(start), epoch_s(stop), padding=0)
        finally:
            self._quiet = False
        self._debounce.stop()

    def zoom_x(self, start: TimeLike, stop: TimeLike) -> None:
        """Show [start, stop) as the operator's zoom would: range_changed follows."""
        self._top().setXRange(epoch_s(start), epoch_s(stop), padding=0)

    def data_extent(self, bucket_s: float = 0.0) -> tuple[float, float] | None:
        """(first bucket start, last bucket start + bucket_s) over all signals."""
        starts = [s.data.times[0] for s in self._series.values() if len(s.data.times)]
        ends = [s.data.times[-1] for s in self._series.values() if len(s.data.times)]
        if not starts:
            return None
        return float(min(starts)), float(max(ends)) + max(bucket_s, 0.0)

    def fit_to_data(self, bucket_s: float = 0.0, *, quiet: bool = True) -> bool:
        """Scale x to the data's time extent and each panel's y to its min..max.
        `quiet` False lets range_changed fire (the page then re-queries the new range
        at its finer resolution).  False when there is no data to fit."""
        extent = self.data_extent(bucket_s)
        if extent is None:
            return False
        low, high = extent
        if high <= low:
            low, high = low - 30.0, high + 30.0  # one bucket: a minute around it
        for unit, panel in self._panels.items():
            values = [v for s in self._series.values() if s.data.unit == unit
                      for v in (s.data.mins, s.data.maxs) if len(v)]
            if values:
                y_low = float(np.nanmin([np.nanmin(v) for v in values]))
                y_high = float(np.nanmax([np.nanmax(v) for v in values]))
                pad = (y_high - y_low) * Y_FIT_PADDING or max(abs(y_high) * 0.05, 0.5)
                panel.getViewBox().disableAutoRange()
                panel.setYRange(y_low - pad, y_high + pad, padding=0)
        (self.set_x_range if quiet else self.zoom_x)(low, high)
        return True

    def x_range(self) -> tuple[float, float]:
        low, high = self._top().getViewBox().viewRange()[0]
        return float(low), float(high)

    def pixel_width(self) -> int:
        return max(1, int(self._top().getViewBox().width()))

    def _on_x_range_changed(self, *_args: object) -> None:
        if not self._quiet:
            self._debounce.start()

    def _on_range_settled(self) -> None:
        start, stop = self.x_range()
        self.range_changed.emit(start, stop, self.pixel_width())

    # -- palette ----------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
            self._draw_overlays()
        super().changeEvent(event)

    def _dark(self) -> bool:
        return self.palette().color(QPalette.ColorRole.Base).lightnessF() < 0.5

    def _apply_palette(self) -> None:
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        self._view.setBackground(base)
        for panel in self._panels.values():
            for name in ("left", "bottom"):
                axis = panel.getAxis(name)
                axis.setPen(muted)
                axis.setTextPen(text)
                axis.label.setDefaultTextColor(text)
        for legend in self._legends.values():
            legend.setLabelTextColor(text)
        self._message.setStyleSheet(
            f"color: {muted.name()}; font-size: 15pt; background: transparent;")
        if self._series:  # colours chosen for the old background may not read on the new
            colors = curve_colors(len(self._series), self._dark())
            for color, items in zip(colors, self._series.values(), strict=True):
                items.set_color(color)
