import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QColor, QImage

from tests.widgets.support import NOW_S
from widgets.live_curve import LiveCurve, peak_downsample

CURVE_COLOR = QColor("#d62728")


@pytest.fixture
def chart(qtbot):
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.resize(700, 300)
    widget.setBackground("w")
    widget.show()
    qtbot.waitExposed(widget)
    view_box = widget.getPlotItem().getViewBox()
    curve = LiveCurve(view_box, pg.mkPen(CURVE_COLOR, width=1))
    widget.getPlotItem().addItem(curve)
    return widget, view_box, curve


def painted(widget) -> np.ndarray:
    """A mask of the pixels in the curve's colour."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    pixels = np.frombuffer(image.constBits(), np.uint32).reshape(
        image.height(), image.bytesPerLine() // 4)[:, :image.width()]
    return (pixels & 0xFFFFFF) == (CURVE_COLOR.rgb() & 0xFFFFFF)


def test_peak_downsample_keeps_each_buckets_min_and_max_exactly():
    rng = np.random.default_rng(7)
    times = np.sort(rng.uniform(1000.0, 1100.0, 5000))
    values = rng.normal(size=5000)
    x, y = peak_downsample(times, values, 0.5)
    buckets = np.floor(times / 0.5)
    for index, bucket in enumerate(np.unique(buckets)):
        inside = buckets == bucket
        assert x[2 * index] == x[2 * index + 1] == times[inside][0]
        assert y[2 * index] == values[inside].min()
        assert y[2 * index + 1] == values[inside].max()
    assert len(x) == 2 * len(np.unique(buckets))


def test_buckets_are_aligned_to_the_clock_not_to_the_first_sample():
    times = np.arange(1000.0, 1010.0, 0.1)
    values = np.sin(times)
    x_all, y_all = peak_downsample(times, values, 1.0)
    x_later, y_later = peak_downsample(times[10:], values[10:], 1.0)  # the window slid by 1 s
    np.testing.assert_array_equal(x_later, x_all[2:])
    np.testing.assert_array_equal(y_later, y_all[2:])


def test_a_long_curve_is_drawn_downsampled_with_its_spike(chart, qtbot):
    widget, view_box, curve = chart
    times = NOW_S - 900 + np.arange(9000) * 0.1  # 15 min at 10 Hz on a 700 px plot
    values = np.full(9000, 20.0)
    values[4321] = 95.0  # one sample: the spike that must not vanish
    curve.set_samples(times, values)
    view_box.setRange(xRange=(times[0], times[-1]), yRange=(0, 100), padding=0)
    mask = painted(widget)
    pixels = view_box.width()
    assert 0 < curve.points_drawn <= 2 * 3 * pixels + 4  # the view plus a span each side
    top_rows = mask[: int(mask.shape[0] * 0.3)]  # 95 on a 0-100 axis is near the top
    assert top_rows.any(), "the one-sample spike was lost"


def test_only_the_view_and_its_margins_are_built(chart):
    _, view_box, curve = chart
    times = NOW_S - 900 + np.arange(9000) * 0.1
    curve.set_samples(times, np.sin(times))
    view_box.setRange(xRange=(NOW_S - 60, NOW_S - 50), yRange=(-1, 1), padding=0)
    chart[0].grab()
    assert curve.points_drawn <= 30 * 10 + 4  # 10 s in view, 10 s each side, at 10 Hz


def test_a_flat_line_is_painted(chart):
    widget, view_box, curve = chart
    times = NOW_S - 60 + np.arange(600) * 0.1
    curve.set_samples(times, np.full(600, 42.0))
    view_box.setRange(xRange=(times[0], times[-1]), yRange=(40, 44), padding=0)
    assert painted(widget).any()


def test_data_bounds_follow_the_samples_and_the_x_range_asked(chart):
    _, _, curve = chart
    assert curve.dataBounds(0) is None and curve.y_bounds() is None
    times = np.array([10.0, 20.0, 30.0, 40.0])
    curve.set_samples(times, np.array([1.0, 5.0, -2.0, 3.0]))
    assert curve.dataBounds(0) == (10.0, 40.0)
    assert curve.dataBounds(1) == (-2.0, 5.0) == curve.y_bounds()
    assert curve.dataBounds(1, orthoRange=(15.0, 25.0)) == (5.0, 5.0)
    assert curve.dataBounds(1, orthoRange=(41.0, 50.0)) is None
    with pytest.raises(ValueError):
        curve.set_samples(times, np.array([1.0]))
    curve.set_samples(np.empty(0), np.empty(0))
    assert curve.y_bounds() is None and curve.boundingRect().isNull()


def test_auto_range_with_no_samples_in_view_does_not_fail(chart, qtbot):
    widget, view_box, curve = chart
    curve.set_samples(np.array([10.0, 20.0]), np.array([1.0, 2.0]))
    view_box.setAutoVisible(y=True)
    view_box.enableAutoRange(axis="y")
    view_box.setXRange(100.0, 200.0, padding=0)  # paused and panned past the data
    view_box.updateAutoRange()
    widget.grab()
