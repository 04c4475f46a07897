import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor

from tests.widgets.support import NOW_S, key, series, wheel_zoom_in
from widgets.live_curve import LiveCurve
from widgets.live_plot import LivePlot
from widgets.live_plot_items import STALE_COLOR, curve_colors

SERVO_3 = key("r1", "servos", "temperature", "servo_3")
SERVO_4 = key("r1", "servos", "temperature", "servo_4")


def curves_in_view(plot):
    return [item for item in plot.view_box.addedItems if isinstance(item, LiveCurve)]


@pytest.fixture
def plot(qtbot):
    widget = LivePlot("Servo temperature", "°C")
    qtbot.addWidget(widget)
    widget.resize(700, 300)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_window(60)
    widget.set_curves([SERVO_3, SERVO_4], {SERVO_3: "servo_3", SERVO_4: "servo_4"})
    return widget


def test_update_puts_the_arrays_into_the_curves(plot):
    times, values = series(NOW_S - 50, NOW_S, 0.5)
    plot.update_data({SERVO_3: (times, values), SERVO_4: (times, values + 5)}, NOW_S, {})
    x, y = plot.curve(SERVO_3).samples()
    np.testing.assert_array_equal(x, times)
    np.testing.assert_array_equal(y, values)
    np.testing.assert_array_equal(plot.curve(SERVO_4).samples()[1], values + 5)
    assert plot.legend_text(SERVO_3) == "servo_3"
    assert plot.plot_item.getAxis("left").labelText == "°C"


def test_curves_are_reused_not_recreated(plot):
    curve = plot.curve(SERVO_3)
    for step in range(5):
        times, values = series(NOW_S - 50 + step, NOW_S + step, 0.1)
        plot.update_data({SERVO_3: (times, values)}, NOW_S + step, {})
    assert plot.curve(SERVO_3) is curve
    assert len(curves_in_view(plot)) == 2
    plot.set_curves([SERVO_4, SERVO_3, key("r1", "servos", "temperature", "servo_5")])
    assert plot.curve(SERVO_3) is curve  # kept, with its data
    assert len(plot.curve(SERVO_3).samples()[0]) == 500
    plot.set_curves([SERVO_4])
    assert len(curves_in_view(plot)) == 1
    assert [label.text for _, label in plot.legend.items] == ["servos/servo_4/temperature"]


def test_curves_get_distinct_width_one_pens(plot):
    pens = [plot.curve(k).opts["pen"] for k in (SERVO_3, SERVO_4)]
    assert pens[0].color() != pens[1].color()
    assert all(pen.width() == 1 for pen in pens)
    assert len({c.name() for c in curve_colors(40)}) == 40
    assert all(pen.isCosmetic() for pen in pens)  # one pixel wide at any zoom


def test_window_follows_now(plot):
    times, values = series(NOW_S - 50, NOW_S, 1.0)
    plot.update_data({SERVO_3: (times, values)}, NOW_S, {})
    assert plot.x_range() == pytest.approx((NOW_S - 60, NOW_S), abs=1e-3)
    plot.update_data({SERVO_3: (times + 10, values)}, NOW_S + 10, {})
    assert plot.x_range() == pytest.approx((NOW_S - 50, NOW_S + 10), abs=1e-3)
    plot.set_window(300)
    assert plot.x_range() == pytest.approx((NOW_S - 290, NOW_S + 10), abs=1e-3)


def test_paused_keeps_view_and_picture_until_resumed(plot):
    times, values = series(NOW_S - 50, NOW_S, 1.0)
    plot.update_data({SERVO_3: (times, values)}, NOW_S, {})
    plot.set_paused(True)
    plot.view_box.setXRange(NOW_S - 30, NOW_S - 20, padding=0)  # the operator zooms in
    later_times, later_values = series(NOW_S - 40, NOW_S + 10, 1.0)
    plot.update_data({SERVO_3: (later_times, later_values)}, NOW_S + 10, {})
    assert plot.x_range() == pytest.approx((NOW_S - 30, NOW_S - 20), abs=1e-3)
    np.testing.assert_array_equal(plot.data(SERVO_3)[0], times)
    plot.set_paused(False)
    plot.update_data({SERVO_3: (later_times, later_values)}, NOW_S + 10, {})
    assert plot.x_range() == pytest.approx((NOW_S - 50, NOW_S + 10), abs=1e-3)
    np.testing.assert_array_equal(plot.data(SERVO_3)[0], later_times)


def test_stale_curve_is_grey_dashed_with_its_age_in_the_legend(plot):
    times, values = series(NOW_S - 50, NOW_S - 12, 1.0)
    fresh_color = plot.curve(SERVO_3).opts["pen"].color()
    plot.update_data({SERVO_3: (times, values)}, NOW_S, {SERVO_3: 12.4, SERVO_4: None})
    pen = plot.curve(SERVO_3).opts["pen"]
    assert pen.color() == QColor(STALE_COLOR)
    assert pen.style() == Qt.PenStyle.DashLine
    assert plot.legend_text(SERVO_3) == "servo_3 (stale 12 s)"
    assert plot.legend.getLabel(plot.curve(SERVO_3)).text == "servo_3 (stale 12 s)"
    assert plot.legend_text(SERVO_4) == "servo_4"
    assert plot.curve(SERVO_4).opts["pen"].style() == Qt.PenStyle.SolidLine

    plot.update_data({SERVO_3: (times, values)}, NOW_S + 5, {SERVO_3: 17.0})
    assert plot.legend_text(SERVO_3) == "servo_3 (stale 17 s)"
    plot.update_data({SERVO_3: (times + 17, values)}, NOW_S + 6, {})
    pen = plot.curve(SERVO_3).opts["pen"]
    assert (pen.color(), pen.style()) == (fresh_color, Qt.PenStyle.SolidLine)
    assert plot.legend_text(SERVO_3) == "servo_3"


def test_crosshair_reads_the_nearest_value_of_each_curve(plot):
    times = np.array([NOW_S - 30, NOW_S - 20, NOW_S - 10])
    plot.update_data({SERVO_3: (times, np.array([40.0, 41.5, 43.0])),
                      SERVO_4: (times + 4, np.array([50.0, 51.0, 52.0]))}, NOW_S, {})
    readout = dict(plot.readout_at(NOW_S - 19))
    assert readout == {SERVO_3: 41.5, SERVO_4: 51.0}  # servo_4's samples are at -26, -16
    assert plot.readout_at(NOW_S - 100) == []  # before any data
    plot.show_crosshair_at(NOW_S - 19)
    html = plot.readout_html()
    assert "servo_3" in html and "41.5" in html and "51.0" in html
    plot.hide_crosshair()


def test_mouse_over_the_plot_moves_the_crosshair(plot, qtbot):
    times, values = series(NOW_S - 60, NOW_S, 0.5)
    plot.update_data({SERVO_3: (times, values)}, NOW_S, {})
    scene_x = plot.view_box.mapViewToScene(QPointF(NOW_S - 30, 0)).x()
    scene_point = QPointF(scene_x, plot.view_box.sceneBoundingRect().center().y())
    widget_point = plot.plot_widget.mapFromScene(scene_point)
    qtbot.mouseMove(plot.plot_widget.viewport(), widget_point)
    qtbot.waitUntil(lambda: plot._vline.isVisible(), timeout=2000)
    assert plot._vline.value() == pytest.approx(NOW_S - 30, abs=0.5)


def test_zooming_with_the_wheel_pauses_following(plot, qtbot):
    times, values = series(NOW_S - 60, NOW_S, 0.5)
    plot.update_data({SERVO_3: (times, values)}, NOW_S, {})
    with qtbot.waitSignal(plot.paused_changed, timeout=1000) as paused:
        wheel_zoom_in(plot)
    assert paused.args == [True]
    zoomed = plot.x_range()
    assert zoomed[1] - zoomed[0] < 60
    plot.update_data({SERVO_3: (times + 5, values)}, NOW_S + 5, {})
    assert plot.x_range() == zoomed


def test_crosshair_box_fits_many_curves_showing_the_highest(qtbot):
    plot = LivePlot("Servo temperature", "°C")
    qtbot.addWidget(plot)
    plot.resize(500, 260)
    plot.show()
    qtbot.waitExposed(plot)
    keys = [key("r1", "servos", "temperature", f"servo_{i}") for i in range(40)]
    plot.set_curves(keys, {k: k.series for k in keys})
    times = np.array([NOW_S - 20, NOW_S - 10])
    plot.update_data({k: (times, np.full(2, 30.0 + i)) for i, k in enumerate(keys)}, NOW_S, {})
    plot.show_crosshair_at(NOW_S - 10)
    html = plot.readout_html()
    assert "servo_39" in html and "69.0" in html  # the hottest is always shown
    text = plot._readout.textItem.toPlainText()
    assert "servo_0\xa0" not in text  # the coolest gave way
    assert "lower" in text
    plot.grab()  # TextItem places its text when painted
    text_item = plot._readout.textItem
    box = text_item.mapRectToScene(text_item.boundingRect())
    assert plot.view_box.sceneBoundingRect().adjusted(-1, -1, 1, 1).contains(box)


def test_follows_the_palette(plot):
    from PySide6.QtGui import QPalette

    dark = QPalette(plot.palette())
    dark.setColor(QPalette.ColorRole.Base, QColor("#17181a"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#e8eaed"))
    light_pen = plot.curve(SERVO_3).opts["pen"].color()
    plot.setPalette(dark)
    assert plot.plot_widget.backgroundBrush().color() == QColor("#17181a")
    assert plot.plot_item.getAxis("left").textPen().color() == QColor("#e8eaed")
    assert plot.curve(SERVO_3).opts["pen"].color().lightness() > light_pen.lightness()
