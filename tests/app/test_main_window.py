"""The real main window against a real Mosquitto and in-process simulated agents."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QSettings

from app.main_window import MainWindow
from services.live.model import Health, SignalKey
from tests.services.live.test_feed import Console, fast_agent

WAIT_MS = 15_000


@pytest.fixture
def console(mosquitto) -> Iterator[Console]:
    console = Console(mosquitto.port)
    yield console
    console.close()


@pytest.fixture
def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat)


def make_window(qtbot, console: Console, settings: QSettings) -> MainWindow:
    window = MainWindow(console.fleet, console.feed, settings=settings)
    qtbot.addWidget(window)
    window.show()
    return window


def model_health(window: MainWindow, robot_id: str) -> Health | None:
    model = window.fleet_model
    for row in range(model.rowCount()):
        snapshot = model.robot_at(row)
        if snapshot.robot_id == robot_id:
            return snapshot.health
    return None


def test_robots_appear_in_the_fleet_and_their_live_page_plots(qtbot, tmp_path, mosquitto,
                                                               console, settings):
    window = make_window(qtbot, console, settings)
    agents = [fast_agent(tmp_path, mosquitto.port, rid) for rid in ("gui_a", "gui_b")]
    for agent in agents:
        agent.start()
    try:
        qtbot.waitUntil(lambda: window.fleet_model.rowCount() == 2, timeout=WAIT_MS)
        page = window.open_live_page(["gui_a"])
        plot = page.plot("Servo temperature")
        key = SignalKey("gui_a", "servos", "temperature", "servo_1")
        cpu = SignalKey("gui_a", "performance", "cpu_percent")
        cpu_plot = page.plot("CPU / memory / disk")
        qtbot.waitUntil(lambda: all(p.data(k) is not None and len(p.data(k)[0]) > 5
                                    for p, k in ((plot, key), (cpu_plot, cpu))),
                        timeout=WAIT_MS)
        qtbot.waitUntil(lambda: "msg/s" in window.rate_label.text()
                        and not window.rate_label.text().startswith("0 msg"), timeout=WAIT_MS)
        assert window.broker_label.text() == "Broker: connected"
        agents[1].stop()  # a goodbye: OFFLINE at once, not after the silence timeout
        qtbot.waitUntil(lambda: model_health(window, "gui_b") is Health.OFFLINE, timeout=5000)
        assert model_health(window, "gui_a") is not Health.OFFLINE
    finally:
        for agent in agents:
            agent.stop()
            agent.outbox.close()


def test_broker_restart_is_survived_and_told(qtbot, tmp_path, mosquitto, console, settings):
    window = make_window(qtbot, console, settings)
    agent = fast_agent(tmp_path, mosquitto.port, "gui_restart")
    agent.start()
    try:
        qtbot.waitUntil(lambda: window.fleet_model.rowCount() == 1, timeout=WAIT_MS)
        mosquitto.stop()
        qtbot.waitUntil(lambda: "reconnecting" in window.broker_label.text(), timeout=WAIT_MS)
        mosquitto.start()
        qtbot.waitUntil(lambda: window.broker_label.text() == "Broker: connected",
                        timeout=40_000)
        key = SignalKey("gui_restart", "performance", "cpu_percent")
        before = len(console.fleet.read([key])[key][0])
        qtbot.waitUntil(lambda: len(console.fleet.read([key])[key][0]) > before + 5,
                        timeout=WAIT_MS)
    finally:
        agent.stop()
        agent.outbox.close()


def test_open_pages_and_geometry_restore(qtbot, console, settings):
    window = make_window(qtbot, console, settings)
    window.resize(700, 500)  # fits the offscreen platform's screen
    window.open_live_page(["robot_x"])
    window.open_live_page(["robot_x", "robot_y"])
    window.close()
    again = make_window(qtbot, console, settings)
    assert [page.robot_ids() for page in again.live_pages()] == [["robot_x"],
                                                                  ["robot_x", "robot_y"]]
    assert (again.size().width(), again.size().height()) == (700, 500)
    assert again.tabs.currentIndex() == 2
