"""The real main window against a real Mosquitto and in-process simulated agents."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QSettings

from app.main_window import NO_INGEST_TEXT, MainWindow
from services.live.feed import LiveFeed
from services.live.fleet import FleetState
from services.live.model import Health, SignalKey
from services.live.pipeline import PipelineMonitor
from services.mqtt_session import MqttSession
from tests.app.test_settings_dialog import secure_mosquitto  # noqa: F401 - a fixture
from tests.services.live.test_feed import Console, fast_agent
from tests.support.pipeline import start_ingest

WAIT_MS = 15_000


@pytest.fixture
def console(mosquitto) -> Iterator[Console]:
    console = Console(mosquitto.port)
    yield console
    console.close()


@pytest.fixture
def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat)


def make_window(qtbot, console: Console, settings: QSettings, **kwargs) -> MainWindow:
    window = MainWindow(console.fleet, console.feed, settings=settings, **kwargs)
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


def test_a_broker_cut_shows_a_banner_and_reconnecting_clears_it(qtbot, tmp_path, mosquitto,
                                                                console, settings):
    window = make_window(qtbot, console, settings, open_settings=lambda: None)
    qtbot.waitUntil(lambda: window.broker_label.text() == "Broker: connected", timeout=WAIT_MS)
    assert window.broker_banner.isHidden()
    mosquitto.stop()
    qtbot.waitUntil(lambda: window.broker_banner.isVisible(), timeout=WAIT_MS)
    text = window.broker_banner.text
    assert f"No connection to the MQTT broker at 127.0.0.1:{mosquitto.port}" in text
    assert "next try in" in text and window.broker_banner.level == "error"
    assert window.broker_banner.action_button.text() == "Connection settings..."
    assert "connected" not in window.broker_label.text().replace("reconnecting", "")
    mosquitto.start()
    qtbot.waitUntil(lambda: window.broker_banner.isHidden(), timeout=40_000)
    assert window.broker_label.text().startswith("Broker: connected")


def test_a_refused_login_is_told_by_the_session_itself(qtbot, secure_mosquitto,  # noqa: F811
                                                        settings):
    """No check connection needed: the session passes the broker's CONNACK on, and the
    disconnect's "Unspecified error" that follows does not wipe it."""
    reasons: list[str] = []
    session = MqttSession("127.0.0.1", secure_mosquitto.port, username="console",
                          password="wrong")
    session.add_connection_listener(lambda connected, reason: reasons.append(reason))
    feed = LiveFeed(session, FleetState())
    window = MainWindow(feed=feed, fleet=FleetState(), settings=settings)
    qtbot.addWidget(window)
    window.show()
    feed.start()
    session.start()
    try:
        qtbot.waitUntil(lambda: "refuses the console" in window.broker_banner.text,
                        timeout=WAIT_MS)
        assert any("refused the connection (CONNACK" in r for r in reasons), reasons
        assert window.broker_label.text().startswith("Broker: login refused")
    finally:
        feed.stop()
        session.stop()


def test_a_refused_login_says_so_in_the_banner(qtbot, secure_mosquitto, settings):  # noqa: F811
    from services.connection_check import check_mqtt
    from services.connection_profile import MqttProfile

    profile = MqttProfile("127.0.0.1", secure_mosquitto.port, username="console")
    session = MqttSession("127.0.0.1", secure_mosquitto.port, username="console",
                          password="wrong")
    diagnose = lambda: (lambda r: (r.ok, r.message))(check_mqtt(profile, "wrong", 5))  # noqa: E731
    feed = LiveFeed(session, FleetState(), diagnose=diagnose)
    window = MainWindow(feed=feed, fleet=FleetState(), settings=settings)
    qtbot.addWidget(window)
    window.show()
    feed.start()
    session.start()
    try:
        # The session's own CONNACK shows first; the check connection's richer answer
        # (with what to fix) replaces it.
        qtbot.waitUntil(lambda: "refuses the console" in window.broker_banner.text
                        and "not authorised" in window.broker_banner.text, timeout=WAIT_MS)
        assert "not authorised" in window.broker_banner.text
        assert window.broker_label.text().startswith("Broker: login refused")
    finally:
        feed.stop()
        session.stop()


def test_the_pipeline_indicator_follows_the_ingest(qtbot, mosquitto, console, settings,
                                                   sqlite_url):
    pipeline = PipelineMonitor()
    pipeline.attach(console.session)
    window = make_window(qtbot, console, settings, pipeline=pipeline)
    pipe = start_ingest(mosquitto.port, sqlite_url, client_id="ingest-gui")
    try:
        qtbot.waitUntil(lambda: window.pipeline_indicator.text().startswith("Ingest: up"),
                        timeout=WAIT_MS)
        assert window.pipeline_banner.isHidden()
        window.pipeline_indicator.click()
        popup = window.pipeline_indicator.popup
        qtbot.waitUntil(popup.isVisible, timeout=WAIT_MS)
        assert popup.table.item(0, 0).text() == "ingest-gui"
        assert popup.table.item(0, 1).text() == "up"
        popup.hide()
    finally:
        pipe.stop()
    qtbot.waitUntil(lambda: window.pipeline_indicator.text() == "Ingest: DOWN",
                    timeout=WAIT_MS)
    assert window.pipeline_banner.text.startswith(NO_INGEST_TEXT)
    assert "ingest-gui: offline" in window.pipeline_banner.text
    pipeline.detach()


def test_no_report_at_all_is_no_ingest_after_the_grace_period(qtbot, console, settings):
    pipeline = PipelineMonitor(grace_s=1.0)
    pipeline.attach(console.session)
    window = make_window(qtbot, console, settings, pipeline=pipeline)
    assert window.pipeline_banner.isHidden()
    qtbot.waitUntil(lambda: window.pipeline_banner.isVisible(), timeout=WAIT_MS)
    assert "no ingest instance has reported" in window.pipeline_banner.text
    pipeline.detach()
