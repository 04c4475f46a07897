import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QColor, QImage

from tests.widgets.support import NOW_S
from widgets.time_axis import RELAYOUT_EVERY_PX, SlidingTimeAxis

GRID = QColor("#ff0000")


@pytest.fixture
def chart(qtbot, monkeypatch):
    axis = SlidingTimeAxis()
    widget = pg.PlotWidget(axisItems={"bottom": axis})
    qtbot.addWidget(widget)
    widget.resize(640, 240)
    widget.setBackground("w")
    widget.show()
    qtbot.waitExposed(widget)
    axis.setGrid(255)
    axis.setTickPen(pg.mkPen(GRID, width=1))
    axis.setStyle(tickAlpha=255, maxTickLevel=0)
    layouts = []
    original = axis.generateDrawSpecs
    monkeypatch.setattr(axis, "generateDrawSpecs",
                        lambda painter: layouts.append(1) or original(painter))
    view_box = widget.getPlotItem().getViewBox()
    view_box.setYRange(0, 1, padding=0)
    return widget, view_box, layouts


def grid_columns(widget, view_box) -> np.ndarray:
    """x (px) of the red grid lines, read halfway down the data area."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    row = int(view_box.sceneBoundingRect().center().y())
    pixels = np.frombuffer(image.constBits(), np.uint32).reshape(
        image.height(), image.bytesPerLine() // 4)[row, :image.width()]
    return np.flatnonzero((pixels & 0xFFFFFF) == (GRID.rgb() & 0xFFFFFF))


def slide_to(view_box, start: float, span: float = 60.0) -> None:
    view_box.setXRange(start, start + span, padding=0)


def test_small_slides_shift_the_last_layout_instead_of_redoing_it(chart):
    widget, view_box, layouts = chart
    slide_to(view_box, NOW_S)
    before = grid_columns(widget, view_box)
    laid_out = len(layouts)
    assert len(before) >= 3
    seconds_per_px = 60.0 / view_box.width()
    slide_to(view_box, NOW_S + 5 * seconds_per_px)
    after = grid_columns(widget, view_box)
    assert len(layouts) == laid_out  # not laid out again
    # The same lines, 5 px to the left (one that slid out of view may be missing).
    assert set(after) >= {x - 5 for x in before if x - 5 >= after.min()}


def test_a_long_slide_a_zoom_or_a_step_back_lays_out_again(chart):
    widget, view_box, layouts = chart
    seconds_per_px = 60.0 / view_box.width()
    slide_to(view_box, NOW_S)
    widget.grab()
    laid_out = len(layouts)
    slide_to(view_box, NOW_S + RELAYOUT_EVERY_PX * seconds_per_px)
    widget.grab()
    assert len(layouts) == laid_out + 1
    slide_to(view_box, NOW_S, span=300.0)
    widget.grab()
    assert len(layouts) == laid_out + 2
    slide_to(view_box, NOW_S - 1.0, span=300.0)
    widget.grab()
    assert len(layouts) == laid_out + 3


def test_after_a_relayout_the_lines_are_where_a_fresh_axis_draws_them(chart, qtbot):
    widget, view_box, _ = chart
    seconds_per_px = 60.0 / view_box.width()
    for step in range(0, 40, 3):  # many small slides, relaid out twice on the way
        slide_to(view_box, NOW_S + step * seconds_per_px)
        widget.grab()
    shifted = grid_columns(widget, view_box)
    fresh_axis = widget.getPlotItem().getAxis("bottom")
    fresh_axis.picture = None  # as a fresh axis: laid out for this range
    fresh = grid_columns(widget, view_box)
    # Lines near the right edge may enter late (at most RELAYOUT_EVERY_PX); the rest agree.
    inner = fresh[fresh < fresh.max() - RELAYOUT_EVERY_PX] if len(fresh) else fresh
    assert set(inner) <= set(shifted) | {x + 1 for x in shifted} | {x - 1 for x in shifted}
