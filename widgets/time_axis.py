"""The time axis of a live chart, laid out again only every few pixels of sliding."""

from __future__ import annotations

import math

import pyqtgraph as pg

# A tick or grid line entering at the right edge appears at most this late (in pixels
# of sliding); about 1.5 s on a one-minute window.
RELAYOUT_EVERY_PX = 16


class SlidingTimeAxis(pg.DateAxisItem):
    """A DateAxisItem that, while the view slides forward by less than
    RELAYOUT_EVERY_PX at the same zoom, shifts its last drawing (labels, ticks, grid
    lines) instead of laying the ticks out again.

    Laying out is Python (tick spacing, label strings, text sizes), about 1 ms per axis,
    and a live page slides all its charts whenever a sample arrives: it was the largest
    part of painting a frame.  Anything else that changes the drawing (zoom, resize,
    fonts, pens) lays out again as before.
    """

    _laid_out: tuple[float, float, float] | None = None  # x0, span s, width px

    def setRange(self, mn: float, mx: float) -> None:  # noqa: N802 - pyqtgraph's name
        laid_out = self._laid_out  # (pyqtgraph sets a range before any picture exists)
        drawn = getattr(self, "picture", None) is not None
        if drawn and laid_out is not None and math.isfinite(mn) and math.isfinite(mx):
            x0, span, width = laid_out
            shift_px = (mn - x0) / span * width
            if abs((mx - mn) - span) <= span * 1e-9 and 0 <= shift_px < RELAYOUT_EVERY_PX:
                self.range = [mn, mx]
                self.update()
                return
        super().setRange(mn, mx)

    def paint(self, painter, option, widget=None) -> None:
        if self.picture is None:
            super().paint(painter, option, widget)
            span = self.range[1] - self.range[0]
            width = self.geometry().width()
            self._laid_out = (self.range[0], span, width) if span > 0 and width > 0 else None
            return
        if self._laid_out is None:
            self.picture.play(painter)
            return
        x0, span, width = self._laid_out
        painter.save()
        painter.setClipRect(self.boundingRect())
        painter.translate(-(self.range[0] - x0) / span * width, 0)
        self.picture.play(painter)
        painter.restore()
