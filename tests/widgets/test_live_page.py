import numpy as np
import pytest

from tests.widgets.support import NOW_S, key, series, wheel_zoom_in
from widgets.live_page import PLOT_SPECS, LivePage


def robot_data(robot: str, servos: int = 3) -> dict:
    data = {}
    for field in ("cpu_percent", "memory_percent", "disk_percent", "cpu_temperature"):
        data[key(robot, "performance", field)] = series(NOW_S - 60, NOW_S, 1.0)
    for field in ("percentage", "voltage"):
        data[key(robot, "battery", field)] = series(NOW_S - 60, NOW_S, 2.0)
    for servo in range(servos, 0, -1):  # arrival order is not legend order
        for field in ("temperature", "position"):
            data[key(robot, "servos", field, f"servo_{servo * 5}")] = series(
                NOW_S - 60, NOW_S, 0.1, phase=servo)
    for axis in "xyz":
        data[key(robot, "imu", f"accel_{axis}")] = series(NOW_S - 60, NOW_S, 0.5)
        data[key(robot, "imu", f"gyro_{axis}")] = series(NOW_S - 60, NOW_S, 0.5)
    data[key(robot, "sensors", "value", "ultrasonic_distance")] = series(NOW_S - 60, NOW_S, 1)
    return data


@pytest.fixture
def make_page(qtbot, monkeypatch):
    # Every plot fed in each update, however slow the machine: the frame budget has a
    # test of its own (test_past_the_frame_budget_plots_wait_their_turn).
    monkeypatch.setattr("widgets.live_page.UPDATE_BUDGET_S", 60.0)

    def make(robot_ids):
        page = LivePage(robot_ids)
        qtbot.addWidget(page)
        page.resize(1400, 1000)
        page.show()
        qtbot.waitExposed(page)
        return page
    return make


def test_plots_for_every_spec_with_units(make_page):
    page = make_page(["r1"])
    titles = [spec.title for spec in PLOT_SPECS]
    assert titles == ["CPU / memory / disk", "CPU temperature", "Battery", "Battery voltage",
                      "Servo temperature", "Servo position", "IMU accel", "IMU gyro"]
    assert page.plot("Battery voltage").plot_item.getAxis("left").labelText == "V"
    assert page.plot("IMU gyro").plot_item.getAxis("left").labelText == "deg/s"
    assert page.robots_label.text() == "r1"


def test_keys_are_routed_to_their_plots(make_page):
    page = make_page(["r1"])
    data = robot_data("r1") | robot_data("other")
    wanted = page.keys_needed(list(data))
    assert all(k.robot_id == "r1" and k.measurement != "sensors" for k in wanted)
    assert len(wanted) == 4 + 2 + 6 + 6

    page.update_data({k: data[k] for k in wanted}, NOW_S, {})
    cpu = page.plot("CPU / memory / disk")
    assert [k.field for k in cpu.keys()] == ["cpu_percent", "memory_percent", "disk_percent"]
    assert [cpu.legend_text(k) for k in cpu.keys()] == ["CPU", "Memory", "Disk"]
    servo_temp = page.plot("Servo temperature")
    assert [k.series for k in servo_temp.keys()] == ["servo_5", "servo_10", "servo_15"]
    assert {k.field for k in servo_temp.keys()} == {"temperature"}
    assert [k.series for k in page.plot("Servo position").keys()] == [
        "servo_5", "servo_10", "servo_15"]
    gyro = page.plot("IMU gyro")
    assert [gyro.legend_text(k) for k in gyro.keys()] == ["x", "y", "z"]
    voltage_key = key("r1", "battery", "voltage")
    np.testing.assert_array_equal(page.plot("Battery voltage").data(voltage_key)[1],
                                  data[voltage_key][1])
    # Keys that are not for this page are ignored, even when handed over.
    page.update_data(data, NOW_S, {})
    assert sum(len(plot.keys()) for plot in page.plots) == len(wanted)


def test_a_servo_appearing_later_gets_a_curve_in_order(make_page):
    page = make_page(["r1"])
    page.update_data(robot_data("r1", servos=2), NOW_S, {})
    first = page.plot("Servo temperature").curve(key("r1", "servos", "temperature", "servo_10"))
    page.update_data(robot_data("r1", servos=3), NOW_S + 1, {})
    plot = page.plot("Servo temperature")
    assert [k.series for k in plot.keys()] == ["servo_5", "servo_10", "servo_15"]
    assert plot.curve(key("r1", "servos", "temperature", "servo_10")) is first


def test_several_robots_are_overlaid_with_their_ids(make_page):
    page = make_page(["r1", "r2"])
    data = robot_data("r1") | robot_data("r2")
    stale_key = key("r2", "battery", "percentage")
    page.update_data(data, NOW_S, {stale_key: 9.0})
    battery = page.plot("Battery")
    assert [battery.legend_text(k) for k in battery.keys()] == [
        "r1 Charge", "r2 Charge (stale 9 s)"]
    servo = page.plot("Servo temperature")
    assert len(servo.keys()) == 6
    # 18 servos x robots would push the chart off the page: one entry per robot for the
    # faded servos, one for its hottest
    legend = sorted(label.text for _, label in servo.legend.items)
    assert len(legend) == 4
    hottest = sorted(servo.hottest())
    assert [k.robot_id for k in hottest] == ["r1", "r2"]
    assert [text for text in legend if text.endswith("(hottest)")] == [
        servo.legend_text(k) for k in hottest]
    assert "r1 other servos" in legend and "r2 other servos" in legend
    assert page.robots_label.text() == "r1, r2"


def test_window_selector_and_pause(make_page, qtbot):
    page = make_page(["r1"])
    page.update_data(robot_data("r1"), NOW_S, {})
    assert page.window() == 60
    assert [page.window_combo.itemText(i) for i in range(3)] == ["1 min", "5 min", "15 min"]
    with qtbot.waitSignal(page.window_changed) as changed:
        page.window_combo.setCurrentIndex(2)
    assert changed.args == [900]
    assert all(plot.window() == 900 for plot in page.plots)
    assert page.plot("Battery").x_range() == pytest.approx((NOW_S - 900, NOW_S), abs=1e-3)

    with qtbot.waitSignal(page.paused_changed) as paused:
        page.pause_button.click()
    assert paused.args == [True]
    assert page.pause_button.text() == "Resume"
    assert all(plot.is_paused() for plot in page.plots)
    page.update_data(robot_data("r1"), NOW_S + 30, {})
    assert page.plot("Battery").x_range() == pytest.approx((NOW_S - 900, NOW_S), abs=1e-3)
    with qtbot.waitSignal(page.paused_changed) as paused:
        page.pause_button.click()
    assert paused.args == [False]
    page.update_data(robot_data("r1"), NOW_S + 30, {})
    assert page.plot("Battery").x_range() == pytest.approx((NOW_S - 870, NOW_S + 30), abs=1e-3)


def test_zooming_one_plot_pauses_the_page_and_lines_up_the_others(make_page, qtbot):
    page = make_page(["r1"])
    page.update_data(robot_data("r1"), NOW_S, {})
    imu = page.plot("IMU accel")
    with qtbot.waitSignal(page.paused_changed) as paused:
        wheel_zoom_in(imu)
    assert paused.args == [True]
    assert page.pause_button.isChecked()
    for plot in page.plots:
        assert plot.x_range() == pytest.approx(imu.x_range(), abs=1e-3)
    imu.view_box.setXRange(NOW_S - 20, NOW_S - 10, padding=0)
    assert page.plot("Battery").x_range() == pytest.approx((NOW_S - 20, NOW_S - 10), abs=1e-3)


def test_set_window_restores_a_non_standard_choice(make_page, qtbot):
    page = make_page(["r1"])
    with qtbot.waitSignal(page.window_changed) as changed:
        page.set_window(120)
    assert changed.args == [120]
    assert page.window_combo.currentText() == "2 min"


def test_a_page_needs_a_robot():
    with pytest.raises(ValueError, match="at least one robot"):
        LivePage([])


def test_a_plot_out_of_sight_draws_all_it_missed_when_scrolled_to(make_page, qtbot):
    page = make_page(["r1"])
    page.resize(1400, 420)  # only the first row of plots is in sight
    data = robot_data("r1")
    gyro = page.plot("IMU gyro")
    x_key, y_key = key("r1", "imu", "gyro_x"), key("r1", "imu", "gyro_y")
    page.update_data({x_key: data[x_key]}, NOW_S, {})  # two updates of different keys,
    page.update_data({y_key: data[y_key]}, NOW_S, {})  # each with only what changed
    qtbot.waitUntil(lambda: not page._on_screen(gyro))
    assert gyro.data(x_key) is None and gyro.data(y_key) is None  # not drawn meanwhile
    page._scroll.ensureWidgetVisible(gyro)
    qtbot.waitUntil(lambda: gyro.data(x_key) is not None)
    np.testing.assert_array_equal(gyro.data(x_key)[1], data[x_key][1])
    np.testing.assert_array_equal(gyro.data(y_key)[1], data[y_key][1])


def test_past_the_frame_budget_plots_wait_their_turn(make_page, monkeypatch):
    page = make_page(["r1"])
    page.resize(1400, 4000)  # every plot in sight
    data = robot_data("r1")
    page.update_data(data, NOW_S, {})  # everything drawn once: curves exist
    for _ in range(len(page.plots)):
        if page.has_pending():
            page.update_data({}, NOW_S, {})
    assert not page.has_pending()
    monkeypatch.setattr("widgets.live_page.UPDATE_BUDGET_S", 0.0)  # one plot per refresh
    later = {k: (t + 5, v + 1) for k, (t, v) in data.items()}
    page.update_data(later, NOW_S + 5, {})
    fed = [plot for plot in page.plots
           if any(np.array_equal(plot.data(k)[0], later[k][0]) for k in plot.keys())]
    assert len(fed) == 1 and page.has_pending()
    for _ in range(len(page.plots) - 1):  # refreshes with nothing new drain the rest
        page.update_data({}, NOW_S + 5, {})
    assert not page.has_pending()
    for plot in page.plots:
        for k in plot.keys():
            np.testing.assert_array_equal(plot.data(k)[0], later[k][0])
            assert plot.x_range()[1] == pytest.approx(NOW_S + 5)
