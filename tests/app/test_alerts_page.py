"""Two consoles' Alerts pages on one real PostgreSQL and one real Mosquitto.

Alerts are raised as the ingest service raises them (AlertStore.apply, commit, then an
announcement on MQTT); operators acknowledge with real mouse clicks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest

from app.alerts_page import AlertsPage
from services.alerts.engine import AlertChange
from services.alerts.service import AlertService
from services.alerts.store import AlertStore
from services.auth import AuthUser
from services.mqtt_session import MqttSession
from services.records.db import Database
from services.records.migrate import upgrade
from services.records.repositories import RobotRepository
from widgets.alert_model import Column

WAIT_MS = 15_000
CONNECT_TIMEOUT_S = 10.0
ALICE = AuthUser("u-alice", "alice", "operator")
BOB = AuthUser("u-bob", "bob", "operator")
VERA = AuthUser("u-vera", "vera", "viewer")
ROBOTS = ("tonypi_a", "tonypi_b")


class Lab:
    """The lab server's side: the records database and an announcer like ingest's."""

    def __init__(self, pg_url: str, port: int) -> None:
        upgrade(pg_url)
        self.db = Database(pg_url)
        self.port = port
        self.announcer = MqttSession("127.0.0.1", port, client_id=f"ingest-{uuid.uuid4().hex}")
        self.announcer.start()
        assert self.announcer.wait_connected(CONNECT_TIMEOUT_S)
        self.service = AlertService(
            self.db, lambda topic, payload: self.announcer.publish(topic, payload, qos=1))
        with self.db.session() as session:
            for robot in ROBOTS:
                RobotRepository(session).touch(robot, datetime.now(UTC))

    def raise_alert(self, robot_id: str = "tonypi_a", *, alert_type: str = "servo",
                    source: str = "servo_3", severity: str = "critical", value: float = 76.2,
                    threshold: float = 75.0, at: datetime | None = None,
                    announce: bool = True) -> int:
        change = AlertChange(
            kind="raised", robot_id=robot_id, alert_type=alert_type, source=source,
            severity=severity, value=value, threshold=threshold,
            title=f"{source} {severity}", message=f"{source} at {value} (limit {threshold})",
            at=at or datetime.now(UTC), details={"test": True})
        with self.db.session() as session:
            alert, event = AlertStore(session).apply(change)
        assert event == "raised"
        if announce:
            self.service.announce(alert, event)
        return alert.id

    def acknowledged_by(self, alert_id: int) -> str | None:
        return self.service.get(alert_id).acknowledged_by

    def close(self) -> None:
        self.announcer.stop()
        self.db.dispose()


@pytest.fixture
def lab(pg_url, mosquitto) -> Iterator[Lab]:
    lab = Lab(pg_url, mosquitto.port)
    yield lab
    lab.close()


@pytest.fixture
def consoles(qtbot, lab, tmp_path):
    """open(user) -> a started AlertsPage with its own MqttSession (a console)."""
    opened: list[tuple[AlertsPage, MqttSession]] = []

    def open_console(user: AuthUser, *, history_store=None) -> AlertsPage:
        session = MqttSession("127.0.0.1", lab.port,
                              client_id=f"console-{user.username}-{uuid.uuid4().hex[:6]}")
        settings = QSettings(str(tmp_path / f"{user.username}.ini"), QSettings.Format.IniFormat)
        page = AlertsPage(lab.db, session, user, history_store=history_store,
                          settings=settings)
        page.view.prompt = Prompt()
        opened.append((page, session))
        qtbot.addWidget(page)
        page.resize(1400, 800)
        page.show()
        qtbot.waitExposed(page)
        page.start()
        session.start()
        qtbot.waitUntil(lambda: session.connected and page.feed.reloads_done >= 1,
                        timeout=WAIT_MS)
        return page

    yield open_console
    for page, session in opened:
        page.shutdown()
        session.stop()


class Prompt:
    """The comment dialog, answered as an operator would (None is Cancel)."""

    def __init__(self, answer: str | None = "") -> None:
        self.answer = answer

    def __call__(self, _parent, _title: str, _label: str) -> str | None:
        return self.answer


def centre(page: AlertsPage, alert_id: int, column: Column) -> QPoint:
    index = page.view.view_index(alert_id, column)
    assert index.isValid(), f"alert {alert_id} is not in the table"
    return page.view.table.visualRect(index).center()


def click_row_button(page: AlertsPage, alert_id: int) -> None:
    QTest.mouseClick(page.view.table.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, centre(page, alert_id, Column.ACTION))


def double_click(page: AlertsPage, alert_id: int) -> None:
    viewport, point = page.view.table.viewport(), centre(page, alert_id, Column.ROBOT)
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    QTest.mouseDClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)


def shown_by(page: AlertsPage, alert_id: int) -> str | None:
    row = page.model.alert(alert_id)
    return None if row is None else row.acknowledged_by


def test_a_click_in_one_console_acknowledges_in_the_database_and_the_other_console(
        qtbot, lab, consoles):
    console_a, console_b = consoles(ALICE), consoles(BOB)
    alert_id = lab.raise_alert()
    for page in (console_a, console_b):
        qtbot.waitUntil(lambda p=page: p.model.alert(alert_id) is not None, timeout=WAIT_MS)
    assert console_b.counts() == {"critical": 1, "warning": 0}

    click_row_button(console_a, alert_id)
    qtbot.waitUntil(lambda: lab.acknowledged_by(alert_id) == "alice", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: shown_by(console_b, alert_id) == "alice", timeout=WAIT_MS)
    assert console_a.model.alert(alert_id).state == "active-acknowledged"
    assert console_b.counts() == {"critical": 0, "warning": 0}
    # B's row lost its button: nothing left to acknowledge there.
    assert console_b.view.view_index(alert_id, Column.ACTION).data() == ""

    # B acts on what it saw a moment ago (the gesture's request): told who won.
    console_b.view.acknowledge_requested.emit([alert_id], "")
    qtbot.waitUntil(lambda: "already acknowledged by alice" in console_b.view.notice_text(),
                    timeout=WAIT_MS)
    assert lab.acknowledged_by(alert_id) == "alice"
    assert console_a.view.notice_text() == ""


def test_two_consoles_clicking_at_once_one_wins_and_the_other_is_told_who(
        qtbot, lab, consoles):
    console_a, console_b = consoles(ALICE), consoles(BOB)
    alert_id = lab.raise_alert()
    for page in (console_a, console_b):
        qtbot.waitUntil(lambda p=page: p.model.alert(alert_id) is not None, timeout=WAIT_MS)
    # Both click before either hears about the other's click.
    click_row_button(console_a, alert_id)
    click_row_button(console_b, alert_id)
    qtbot.waitUntil(lambda: lab.acknowledged_by(alert_id) is not None, timeout=WAIT_MS)
    winner = lab.acknowledged_by(alert_id)
    loser_page = console_b if winner == "alice" else console_a
    winner_page = console_a if winner == "alice" else console_b
    qtbot.waitUntil(lambda: f"already acknowledged by {winner}" in loser_page.view.notice_text(),
                    timeout=WAIT_MS)
    assert winner_page.view.notice_text() == ""
    for page in (console_a, console_b):
        qtbot.waitUntil(lambda p=page: shown_by(p, alert_id) == winner, timeout=WAIT_MS)
    acknowledged = [e for e in lab.service.history(alert_id) if e.event == "acknowledged"]
    assert [e.actor for e in acknowledged] == [winner]


def test_every_gesture_acknowledges_and_the_other_console_follows(qtbot, lab, consoles):
    console_a, console_b = consoles(ALICE), consoles(BOB)
    ids = [lab.raise_alert(source=f"servo_{n}") for n in range(1, 6)]
    for page in (console_a, console_b):
        qtbot.waitUntil(lambda p=page: all(p.model.alert(i) for i in ids), timeout=WAIT_MS)

    click_row_button(console_a, ids[0])
    double_click(console_a, ids[1])
    console_a.view.prompt.answer = "fan replaced"
    menu = console_a.view.context_menu_for(console_a.view.view_index(ids[2]))
    next(a for a in menu.actions() if a.text() == "Acknowledge...").trigger()
    qtbot.waitUntil(lambda: all(lab.acknowledged_by(i) == "alice" for i in ids[:3]),
                    timeout=WAIT_MS)

    console_a.view.prompt.answer = "checked both"
    console_a.view.select_alerts(ids[3:])
    QTest.mouseClick(console_a.view.acknowledge_selected_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: all(lab.acknowledged_by(i) == "alice" for i in ids),
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: all(shown_by(console_b, i) == "alice" for i in ids),
                    timeout=WAIT_MS)
    assert console_b.counts()["critical"] == 0
    comments = {e.alert_id: (e.details or {}).get("comment")
                for i in ids for e in lab.service.history(i) if e.event == "acknowledged"}
    assert comments == {ids[0]: None, ids[1]: None, ids[2]: "fan replaced",
                        ids[3]: "checked both", ids[4]: "checked both"}


def test_a_viewers_click_is_refused_by_the_service_and_says_why(qtbot, lab, consoles):
    viewer = consoles(VERA)
    alert_id = lab.raise_alert()
    qtbot.waitUntil(lambda: viewer.model.alert(alert_id) is not None, timeout=WAIT_MS)
    click_row_button(viewer, alert_id)
    qtbot.waitUntil(lambda: "Refused" in viewer.view.notice_text(), timeout=WAIT_MS)
    assert "vera" in viewer.view.notice_text() and "viewer" in viewer.view.notice_text()
    assert lab.acknowledged_by(alert_id) is None
    assert viewer.model.alert(alert_id).state == "active-unacknowledged"

    menu = viewer.view.context_menu_for(viewer.view.view_index(alert_id))
    viewer.view.prompt.answer = "trying anyway"
    viewer.view.notice.hide()
    next(a for a in menu.actions() if a.text() == "Resolve...").trigger()
    qtbot.waitUntil(lambda: "may not resolve alert" in viewer.view.notice_text(),
                    timeout=WAIT_MS)
    assert not lab.service.get(alert_id).resolved


def test_manual_resolve_with_a_reason_reaches_the_other_console(qtbot, lab, consoles):
    console_a, console_b = consoles(ALICE), consoles(BOB)
    alert_id = lab.raise_alert(alert_type="battery", source="battery", severity="warning",
                               value=18.0, threshold=20.0)
    for page in (console_a, console_b):
        qtbot.waitUntil(lambda p=page: p.model.alert(alert_id) is not None, timeout=WAIT_MS)
    console_a.view.prompt.answer = "battery swapped"
    menu = console_a.view.context_menu_for(console_a.view.view_index(alert_id))
    next(a for a in menu.actions() if a.text() == "Resolve...").trigger()
    qtbot.waitUntil(lambda: console_b.model.alert(alert_id).resolved, timeout=WAIT_MS)
    assert console_b.model.alert(alert_id).state == "cleared-unacknowledged"
    resolved = [e for e in lab.service.history(alert_id) if e.event == "resolved"]
    assert [(e.actor, e.details["reason"]) for e in resolved] == [("alice", "battery swapped")]


def test_a_console_that_missed_announcements_reloads_when_it_reconnects(
        qtbot, lab, consoles, mosquitto):
    console = consoles(BOB)
    alert_id = lab.raise_alert()
    qtbot.waitUntil(lambda: console.model.alert(alert_id) is not None, timeout=WAIT_MS)
    mosquitto.stop()
    # While the broker is down: another operator acknowledges, a new alert is raised;
    # no announcement reaches anyone.
    AlertService(lab.db).acknowledge(ALICE, alert_id, "seen on the robot")
    missed = lab.raise_alert("tonypi_b", alert_type="temperature", source="cpu_temperature",
                             announce=False)
    reloads = console.feed.reloads_done
    mosquitto.start()
    qtbot.waitUntil(lambda: console.feed.reloads_done > reloads, timeout=40_000)
    qtbot.waitUntil(lambda: shown_by(console, alert_id) == "alice"
                    and console.model.alert(missed) is not None, timeout=WAIT_MS)
    # Raised while nobody could hear it, so it is new to this console: it notifies.
    assert [title for title, _ in console.notifications] == [
        "Critical alert: tonypi_a", "Critical alert: tonypi_b"]


def test_new_critical_alerts_notify_once_and_old_ones_never(qtbot, lab, consoles):
    old = lab.raise_alert(source="servo_9")
    console = consoles(ALICE)
    qtbot.waitUntil(lambda: console.model.alert(old) is not None, timeout=WAIT_MS)
    raised = []
    console.critical_alert_raised.connect(raised.append)
    warning = lab.raise_alert(source="cpu", alert_type="performance", severity="warning",
                              value=75.0, threshold=70.0)
    critical = lab.raise_alert("tonypi_b")
    qtbot.waitUntil(lambda: console.model.alert(critical) is not None
                    and console.model.alert(warning) is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(raised) == 1, timeout=WAIT_MS)
    assert raised[0].id == critical
    click_row_button(console, critical)  # its "acknowledged" announcement is no news
    qtbot.waitUntil(lambda: shown_by(console, critical) == "alice", timeout=WAIT_MS)
    console.feed.reload()
    reloads = console.feed.reloads_done
    qtbot.waitUntil(lambda: console.feed.reloads_done > reloads, timeout=WAIT_MS)
    assert [r.id for r in raised] == [critical]
    assert len(console.notifications) == 1


def test_details_show_the_history_and_the_metric_around_the_alert(qtbot, lab, consoles,
                                                                   pg_url):
    from services.history.sql_store import SqlHistoryStore
    from services.wire.model import Sample

    raised_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    history = SqlHistoryStore(pg_url)
    try:
        history.write([Sample("servos", "tonypi_a", raised_at + timedelta(seconds=s),
                              {"temperature": 60.0 + s / 30}, {"servo_id": "servo_3"})
                       for s in range(-300, 180, 5)])
        console = consoles(ALICE, history_store=history)
        alert_id = lab.raise_alert(at=raised_at)
        qtbot.waitUntil(lambda: console.model.alert(alert_id) is not None, timeout=WAIT_MS)
        console.view.prompt.answer = "looking at it"
        menu = console.view.context_menu_for(console.view.view_index(alert_id))
        next(a for a in menu.actions() if a.text() == "Acknowledge...").trigger()
        qtbot.waitUntil(lambda: shown_by(console, alert_id) == "alice", timeout=WAIT_MS)

        details = console.view.details
        assert details.plot.isHidden()  # nothing selected: no empty axes ticked 0.1..0.9
        assert "Select an alert" in details.chart_note.text()
        menu = console.view.context_menu_for(console.view.view_index(alert_id))
        next(a for a in menu.actions() if a.text() == "Details").trigger()
        qtbot.waitUntil(lambda: [e.event for e in details.event_model.events()]
                        == ["raised", "acknowledged"], timeout=WAIT_MS)
        events = details.event_model.events()
        assert events[1].actor == "alice" and "looking at it" in events[1].details
        assert "critical at 76.2 °C (threshold 75 °C)" in events[0].details
        qtbot.waitUntil(lambda: "points" in details.chart_note.text(), timeout=WAIT_MS)
        assert not details.plot.isHidden()
        curve = details.plot.getPlotItem().listDataItems()[-1]
        xs, ys = curve.getData()
        assert len(xs) > 50
        assert xs.min() < raised_at.timestamp() < xs.max()
        assert 49.0 < ys.min() and ys.max() < 67.0  # the stored values, not made up
    finally:
        history.close()


def test_install_adds_the_tab_status_label_and_fleet_counts(qtbot, lab, tmp_path):
    from app.alerts_page import install_alerts_page
    from app.main_window import MainWindow
    from services.live.feed import LiveFeed
    from services.live.fleet import FleetState
    from services.wire.encode import encode

    session = MqttSession("127.0.0.1", lab.port, client_id=f"console-{uuid.uuid4().hex[:6]}")
    fleet = FleetState()
    feed = LiveFeed(session, fleet)
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    window = MainWindow(fleet, feed, settings=settings)
    qtbot.addWidget(window)
    page = install_alerts_page(window, database=lab.db, session=session, user=ALICE)
    feed.start()
    session.start()
    window.show()
    try:
        assert window.tabs.widget(1) is page
        qtbot.waitUntil(lambda: session.connected and page.feed.reloads_done >= 1,
                        timeout=WAIT_MS)
        # An empty database is an answer: the label must not stay on "loading".
        qtbot.waitUntil(lambda: window.alerts_status_label.text() == "Alerts: none open",
                        timeout=WAIT_MS)
        lab.announcer.publish(*encode("performance", "tonypi_a", 1, {"cpu_percent": 12.0}))
        qtbot.waitUntil(lambda: "tonypi_a" in fleet.robot_ids(), timeout=WAIT_MS)
        alert_id = lab.raise_alert()
        lab.raise_alert(alert_type="battery", source="battery", severity="warning",
                        value=15.0, threshold=20.0)
        qtbot.waitUntil(lambda: window.tabs.tabText(1) == "Alerts (1 critical, 1 warning)",
                        timeout=WAIT_MS)
        assert window.alerts_status_label.text() == \
            "Alerts: 1 critical, 1 warning unacknowledged"
        qtbot.waitUntil(lambda: fleet.snapshot("tonypi_a").unacknowledged_alerts == 2,
                        timeout=WAIT_MS)
        assert "New critical alert on tonypi_a" in window.statusBar().currentMessage()

        window.tabs.setCurrentIndex(1)
        click_row_button(page, alert_id)
        qtbot.waitUntil(lambda: window.tabs.tabText(1) == "Alerts (1 warning)",
                        timeout=WAIT_MS)
        assert window.alerts_status_label.text() == "Alerts: 1 warning unacknowledged"
        qtbot.waitUntil(lambda: fleet.snapshot("tonypi_a").unacknowledged_alerts == 1,
                        timeout=WAIT_MS)
        # The alerts tab cannot be closed like a live page.
        assert window.tabs.tabBar().tabButton(
            1, window.tabs.tabBar().ButtonPosition.RightSide) is None
    finally:
        page.shutdown()
        feed.stop()
        session.stop()


def test_the_details_pane_shows_an_acknowledgement_and_its_comment_at_once(
        qtbot, lab, consoles):
    console = consoles(ALICE)
    alert_id = lab.raise_alert()
    qtbot.waitUntil(lambda: console.model.alert(alert_id) is not None, timeout=WAIT_MS)
    console.view.select_alerts([alert_id])
    console.view._show_details(alert_id)  # what a click on the row does
    details = console.view.details
    qtbot.waitUntil(lambda: [e.event for e in details.event_model.events()] == ["raised"],
                    timeout=WAIT_MS)
    console.view.prompt.answer = "fan checked"
    QTest.mouseClick(console.view.acknowledge_selected_button, Qt.MouseButton.LeftButton)
    # No second click on the row: the open pane follows by itself.
    qtbot.waitUntil(lambda: [e.event for e in details.event_model.events()]
                    == ["raised", "acknowledged"], timeout=WAIT_MS)
    assert "comment: fan checked" in details.event_model.events()[1].details
    assert "Active, acknowledged by alice at" in details.summary.text()


def test_status_text_and_the_out_of_date_notice_follow_their_causes(qtbot, lab, consoles):
    console = consoles(ALICE)
    qtbot.waitUntil(lambda: console.status_text() == "Alerts: none open", timeout=WAIT_MS)
    # The feed reports a failed reload the way its worker thread does (drained at once:
    # a reload still under way from the connection would clear it before we look).
    console.feed._queue.append((None, "could not load alerts: connection refused"))
    console.feed._on_drain_ticked()
    assert "out of date" in console.view.notice_text()
    assert console.status_text() == "Alerts: none open (may be out of date)"
    alert_id = lab.raise_alert(severity="warning")
    console.feed.reload()
    qtbot.waitUntil(lambda: console.view.notice_text() == "", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: console.status_text() == "Alerts: 1 warning unacknowledged",
                    timeout=WAIT_MS)
    click_row_button(console, alert_id)
    qtbot.waitUntil(lambda: console.status_text() == "Alerts: 1 open, all acknowledged",
                    timeout=WAIT_MS)


def test_a_failed_acknowledge_notice_goes_when_the_alert_is_acknowledged_anyway(
        qtbot, lab, consoles):
    console = consoles(BOB)
    alert_id = lab.raise_alert()
    qtbot.waitUntil(lambda: console.model.alert(alert_id) is not None, timeout=WAIT_MS)
    broken = console.service.acknowledge

    def refuse(*_args, **_kwargs):
        raise RuntimeError("records database unreachable")

    console.service.acknowledge = refuse
    click_row_button(console, alert_id)
    qtbot.waitUntil(lambda: "Could not acknowledge" in console.view.notice_text(),
                    timeout=WAIT_MS)
    console.service.acknowledge = broken
    AlertService(lab.db, lab.service._publish).acknowledge(ALICE, alert_id, "done here")
    qtbot.waitUntil(lambda: console.view.notice_text() == "", timeout=WAIT_MS)
