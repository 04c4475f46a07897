"""Live charts: threshold lines, hottest servo, overlay colours, empty state, header."""

import numpy as np
import pytest
from PySide6.QtCore import Qt

from services.live.health import Threshold
from services.live.model import Health
from tests.widgets.support import NOW_S, key, snapshot
from widgets.live_page import LivePage
from widgets.live_plot import LivePlot
from widgets.live_plot_overlays import CRITICAL, WARNING, AlertMarker, ThresholdLine
from widgets.status_badge import HEALTH_COLORS


@pytest.fixture
def make_page(qtbot):
    def make(robots):
        page = LivePage(robots)
        page.resize(1200, 900)
        qtbot.addWidget(page)
        return page
    return make


def flat(value: float, n: int = 30, end: float = NOW_S):
    times = np.arange(end - n, end, 1.0)
    return times, np.full(n, value)


def test_threshold_lines_are_drawn_dashed_in_level_colours(make_page):
    page = make_page(["r1"])
    page.set_thresholds("r1", {("battery", "percentage"): Threshold(20, 10, low_is_bad=True),
                               ("performance", "cpu_percent"): Threshold(70, 90)})
    battery = page.plot("Battery")
    assert [(line.value, line.level) for line in battery.threshold_lines()] == [
        (10, CRITICAL), (20, WARNING)]
    assert "≤" in battery.threshold_lines()[0].label  # low is bad
    item = battery.overlays.threshold_lines[1]
    assert item.pen.style() == Qt.PenStyle.DashLine
    assert item.pen.color().name() == HEALTH_COLORS[Health.WARN]
    assert page.plot("Battery voltage").threshold_lines() == ()
    # the warning line stays in view so the distance to it reads at a glance
    data = {key("r1", "battery", "percentage"): flat(80.0)}
    page.update_data(data, NOW_S, {})  # routes the key to its chart (makes the curve)
    battery.update_data(data, NOW_S, {})  # fed now, whatever the page's frame budget
    low, high = battery.view_box.viewRange()[1]
    assert low <= 20 <= high


def test_alert_markers_go_to_the_chart_of_their_signal(make_page):
    page = make_page(["r1"])
    page.set_alert_markers([
        AlertMarker("r1", NOW_S - 10, "critical", "CPU usage critical",
                    ("performance", "cpu_percent")),
        AlertMarker("r1", NOW_S - 5, "warning", "Robot offline", None),
        AlertMarker("other", NOW_S - 5, "warning", "not this page", None)])
    assert len(page.plot("CPU / memory / disk").overlays.marker_lines) == 2
    assert len(page.plot("Battery").overlays.marker_lines) == 1


def test_hottest_servo_stands_out(qtbot):
    # On the plot itself: a page feeds its plots within a time budget (see LivePage).
    plot = LivePlot("Servo temperature", "°C")
    qtbot.addWidget(plot)
    plot.set_emphasize_hottest(True)
    keys = [key("r1", "servos", "temperature", f"servo_{i}") for i in range(1, 19)]
    plot.set_curves(keys, {k: k.series for k in keys})
    data = {k: flat(30.0 + i) for i, k in enumerate(keys)}
    hottest = key("r1", "servos", "temperature", "servo_7")
    data[hottest] = flat(70.0)
    plot.update_data(data, NOW_S, {})
    assert plot.hottest() == {hottest}
    assert plot.legend_text(hottest) == "servo_7 (hottest)"
    assert plot.curve(hottest).opts["pen"].width() == 2
    other = plot.curve(key("r1", "servos", "temperature", "servo_3")).opts["pen"]
    assert other.width() == 1 and other.color().alpha() < 255
    # another servo overtakes it
    plot.update_data({keys[1]: flat(90.0, end=NOW_S + 1)}, NOW_S + 1, {})
    assert plot.hottest() == {keys[1]}
    assert plot.legend_text(hottest) == "servo_7"


def test_overlay_colours_are_per_robot_line_styles_per_signal(make_page):
    page = make_page(["r1", "r2"])
    data = {}
    for robot in ("r1", "r2"):
        for field in ("cpu_percent", "memory_percent"):
            data[key(robot, "performance", field)] = flat(40.0)
    page.update_data(data, NOW_S, {})
    plot = page.plot("CPU / memory / disk")
    pens = {k: plot.curve(k).opts["pen"] for k in plot.keys()}
    cpu1, mem1 = pens[key("r1", "performance", "cpu_percent")], pens[
        key("r1", "performance", "memory_percent")]
    cpu2 = pens[key("r2", "performance", "cpu_percent")]
    assert cpu1.color() == mem1.color() != cpu2.color()
    assert cpu1.style() != mem1.style()
    assert cpu1.style() == cpu2.style()


def test_stale_label_relays_the_legend_out(qtbot):
    plot = LivePlot("x", "%")
    plot.resize(400, 300)
    qtbot.addWidget(plot)
    keys = [key("r1", "m", f"field_{i}") for i in range(6)]
    plot.set_curves(keys)
    plot.update_data({k: flat(1.0) for k in keys}, NOW_S, {})
    columns = plot._legend_columns
    plot.update_data({}, NOW_S + 1, {k: 100.0 for k in keys})
    assert plot.legend_text(keys[0]).endswith("(stale 100 s)")
    assert plot._legend_columns <= columns  # longer names: never more columns than fit


def test_empty_chart_says_waiting_for_data(qtbot):
    plot = LivePlot("CPU", "%")
    qtbot.addWidget(plot)
    plot.set_curves([key("r1", "performance", "cpu_percent")])
    assert plot.is_waiting()
    assert not plot.plot_item.getAxis("left").style["showValues"]
    plot.update_data({key("r1", "performance", "cpu_percent"): flat(5.0)}, NOW_S, {})
    assert not plot.is_waiting()
    assert plot.plot_item.getAxis("left").style["showValues"]


def test_page_header_shows_state_and_reasons(make_page):
    page = make_page(["r1"])
    page.set_robot_states({"r1": snapshot("r1", health=Health.WARN,
                                          reasons=("cpu 75.0 % >= 70",))})
    assert page.state_strip.badges["r1"].health() is Health.WARN
    assert page.state_strip.reasons_text("r1") == "cpu 75.0 % >= 70"
    page.set_robot_states({"r1": None})
    assert page.state_strip.badges["r1"].health() is Health.UNKNOWN


def test_threshold_line_values_are_plain_data():
    line = ThresholdLine(70.0, WARNING, "CPU warning ≥ 70")
    assert line.value == 70.0 and not line.low_is_bad
