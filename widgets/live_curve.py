"""The line of one live signal: (time, value) samples drawn as one polyline.

A live chart holds tens of these and is refreshed 25 times a second.  pyqtgraph's
PlotDataItem serves any data (symbols, log axes, NaN, fills) at about 0.3 ms of Python
per update and again per paint, and follows each view change through signals; with 88
curves on a page that alone took more than the frame budget.  This item does only what a
live chart needs: ascending times, finite values, a cosmetic pen, clipping to the view
and peak downsampling, built lazily at paint time and cached until data or zoom change.

It is added to a pyqtgraph ViewBox like any item; the ViewBox reads `dataBounds` to
auto-range, the legend reads `opts["pen"]` and toggles `setVisible`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph import functions as fn
from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainter, QPen
from PySide6.QtWidgets import QGraphicsObject

# Peak downsampling keeps each bucket's min and max, so one bucket per pixel column
# draws every spike; finer buckets only cost drawing time.
BUCKETS_PER_PX = 1.0
EMPTY = np.empty(0)


def peak_downsample(times: np.ndarray, values: np.ndarray,
                    bucket_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Each `bucket_s`-wide time bucket as two points at its first sample's time: the
    bucket's min, then its max.

    Buckets are aligned to multiples of `bucket_s` (not to the first sample), so a window
    sliding over the same data keeps the same buckets and the picture does not shimmer.
    """
    buckets = np.floor(times / bucket_s)
    starts = np.flatnonzero(np.diff(buckets, prepend=buckets[0] - 1))
    x = np.repeat(times[starts], 2)
    y = np.empty(len(x))
    y[0::2] = np.minimum.reduceat(values, starts)
    y[1::2] = np.maximum.reduceat(values, starts)
    return x, y


class LiveCurve(QGraphicsObject):
    """A polyline of samples in data coordinates (x: epoch seconds, ascending)."""

    def __init__(self, view_box: pg.ViewBox, pen: QPen | None = None) -> None:
        super().__init__()
        self._view_box = view_box
        # The legend swatch reads the pen from here, as from a PlotDataItem.
        self.opts: dict = {"pen": pen if pen is not None else pg.mkPen(width=1)}
        self._x = self._y = EMPTY
        self._y_bounds: tuple[float, float] | None = None
        self._rect = QRectF()
        self._polygon = None
        self._built_for: tuple[float, float, float] | None = None  # clip lo, hi, bucket_s
        self.points_drawn = 0  # in the line last built: what clipping and downsampling left

    # --- data ---------------------------------------------------------------------------

    def set_samples(self, times: np.ndarray, values: np.ndarray) -> None:
        """Replace the samples (times ascending, values finite; same length)."""
        if len(times) != len(values):
            raise ValueError(f"{len(times)} times for {len(values)} values")
        self._x, self._y = times, values
        self._polygon = self._built_for = None
        if len(times):
            self._y_bounds = float(values.min()), float(values.max())
            low, high = self._y_bounds
            # Never a zero-height rect: Qt would find it intersects nothing and cull it.
            pad = max((high - low) * 0.01, abs(high) * 1e-9, 1e-9)
            rect = QRectF(float(times[0]), low - pad, float(times[-1] - times[0]),
                          high - low + 2 * pad)
        else:
            self._y_bounds = None
            rect = QRectF()
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        self.update()

    def samples(self) -> tuple[np.ndarray, np.ndarray]:
        return self._x, self._y

    def y_bounds(self) -> tuple[float, float] | None:
        """(min, max) of the values, None without samples."""
        return self._y_bounds

    def setPen(self, pen: QPen) -> None:  # noqa: N802 - the name pyqtgraph items share
        self.opts["pen"] = pen
        self.update()

    # --- what the ViewBox and the scene ask ---------------------------------------------

    def dataBounds(self, ax: int, frac: float = 1.0,  # noqa: N802 - pyqtgraph's protocol
                   orthoRange: tuple[float, float] | None = None  # noqa: N803
                   ) -> tuple[float, float] | None:
        if not len(self._x):
            return None
        if ax == 0:
            return float(self._x[0]), float(self._x[-1])
        if orthoRange is None:
            return self._y_bounds
        low = int(self._x.searchsorted(orthoRange[0], side="left"))
        high = int(self._x.searchsorted(orthoRange[1], side="right"))
        if high <= low:
            return None
        shown = self._y[low:high]
        return float(shown.min()), float(shown.max())

    def transformAngle(self, _relative_item=None) -> float:  # noqa: N802 - pyqtgraph's
        # The ViewBox asks when only one axis has bounds; a live curve is never rotated.
        return 0.0

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return self._rect

    def paint(self, painter: QPainter, _option, _widget=None) -> None:
        if not len(self._x):
            return
        polygon = self._polygon_for_view(painter)
        if polygon is None:
            return
        painter.setPen(self.opts["pen"])
        painter.drawPolyline(polygon)

    # --- building the polyline ----------------------------------------------------------

    def _polygon_for_view(self, painter: QPainter):
        (x_low, x_high), _ = self._view_box.viewRange()
        px_per_s = painter.transform().m11()
        if not px_per_s > 0 or not x_high > x_low:
            return None
        bucket_s = 1.0 / (px_per_s * BUCKETS_PER_PX)
        built = self._built_for
        # The cached line serves while the view stays inside what it was clipped to and
        # the zoom is the same: following the clock slides the view by a pixel a frame.
        if (built is not None and built[2] == bucket_s
                and built[0] <= x_low and x_high <= built[1]):
            return self._polygon
        span = x_high - x_low
        clip_low, clip_high = x_low - span, x_high + span
        self._polygon = self._build(clip_low, clip_high, bucket_s)
        self._built_for = (clip_low, clip_high, bucket_s)
        return self._polygon

    def _build(self, clip_low: float, clip_high: float, bucket_s: float):
        x, y = self._x, self._y
        # One sample beyond each end, so the line runs to the edge of the clip range.
        # (The array methods: numpy's function wrappers cost more than the search.)
        first = max(int(x.searchsorted(clip_low, side="left")) - 1, 0)
        last = int(x.searchsorted(clip_high, side="right")) + 1
        x, y = x[first:last], y[first:last]
        pixels = (clip_high - clip_low) / bucket_s
        if len(x) > 2 * pixels:
            x, y = peak_downsample(x, y, bucket_s)
        polygon = fn.create_qpolygonf(len(x))
        points = fn.ndarray_from_qpolygonf(polygon)
        points[:, 0] = x
        points[:, 1] = y
        self.points_drawn = len(x)
        return polygon


class BackgroundCurves:
    """Curves of a plot keyed by signal, drawn behind its live curves and kept out of its
    legend: the stored history a paused live page shows before its ring buffers."""

    def __init__(self, plot_item: pg.PlotItem) -> None:
        self._plot_item = plot_item
        self._curves: dict[object, LiveCurve] = {}

    def set(self, key: object, pen: QPen, times: np.ndarray, values: np.ndarray) -> None:
        curve = self._curves.get(key)
        if curve is None:
            curve = self._curves[key] = LiveCurve(self._plot_item.getViewBox(), pen)
            curve.setZValue(-1)
            self._plot_item.addItem(curve)
        curve.set_samples(times, values)

    def samples(self, key: object) -> tuple[np.ndarray, np.ndarray] | None:
        curve = self._curves.get(key)
        return None if curve is None else curve.samples()

    def remove(self, key: object) -> None:
        curve = self._curves.pop(key, None)
        if curve is not None:
            self._plot_item.removeItem(curve)

    def clear(self) -> None:
        for key in list(self._curves):
            self.remove(key)
