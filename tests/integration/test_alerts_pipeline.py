"""Alerts end to end: real Mosquitto and PostgreSQL, the ingest service with its engine,
an own-format publisher with controlled servo temperatures and sample times, and a paho
subscriber on tonypi/alerts/+ standing in for a console."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select

from services.alerts.announce import ALERTS_SUBSCRIPTION, parse_announcement
from services.alerts.engine import AlertEngine
from services.alerts.service import AlertService
from services.alerts.store import AlertStore
from services.auth import AuthUser
from services.records.models import Alert
from services.records.repositories import RobotRepository
from services.wire.encode import encode
from tests.support import processes
from tests.support.pipeline import FAST, Publisher, start_ingest
from tests.support.waiting import wait_until

ROBOT = "hot_01"
# Default thresholds: servo warning 60 °C, critical 75 °C, clear at <= 57 °C; 10 s holds.
NORMAL_C, WARM_C, HOT_C, COOL_C = 45.0, 66.0, 80.0, 40.0
STEP_S = 1.0


class Announcements:
    """A console's view: every announcement on tonypi/alerts/+, in arrival order."""

    def __init__(self, port: int) -> None:
        self.items: list = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.on_message = lambda c, u, msg: self.items.append(
            parse_announcement(msg.topic, msg.payload))
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(ALERTS_SUBSCRIPTION, qos=1)
        self.client.loop_start()
        assert self._subscribed.wait(10), "subscriber not subscribed"

    def events(self) -> list[tuple[str, int, str]]:
        return [(a.event, a.id, a.severity) for a in self.items]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class ServoRobot:
    """Own-format servo messages: servo 3 at a chosen temperature, servo 4 always normal,
    one message per STEP_S of sample time starting ten minutes ago."""

    def __init__(self, publisher: Publisher, robot_id: str = ROBOT) -> None:
        self.publisher, self.robot_id = publisher, robot_id
        self.start = datetime.now(UTC) - timedelta(minutes=10)
        self.seq = 0

    def send(self, temperature_c: float, count: int) -> None:
        for _ in range(count):
            self.seq += 1
            servos = [{"id": 3, "name": "knee", "position": 10.0, "temperature": temperature_c},
                      {"id": 4, "name": "hip", "position": 5.0, "temperature": NORMAL_C}]
            topic, payload = encode("servos", self.robot_id, self.seq, {"servos": servos},
                                    ts=self.start + timedelta(seconds=self.seq * STEP_S))
            self.publisher.send(topic, payload)


@pytest.fixture
def publisher(mosquitto) -> Iterator[Publisher]:
    pub = Publisher(mosquitto.port, qos=1)
    yield pub
    pub.close()


@pytest.fixture
def console(mosquitto) -> Iterator[Announcements]:
    subscriber = Announcements(mosquitto.port)
    yield subscriber
    subscriber.close()


def alerts_of(pipeline, robot_id: str = ROBOT) -> list[Alert]:
    with pipeline.db.session() as session:
        return list(session.scalars(select(Alert).where(Alert.robot_id == robot_id)
                                    .order_by(Alert.id)))


def test_an_overheating_servo_raises_one_alert_escalates_and_resolves(
        mosquitto, pg_url, publisher, console):
    pipeline = start_ingest(mosquitto.port, pg_url, alerts=True)
    try:
        robot = ServoRobot(publisher)
        robot.send(NORMAL_C, 5)
        robot.send(WARM_C, 16)  # beyond warning for 15 s of sample time
        wait_until(lambda: console.events(), message="raised announced")
        [alert] = alerts_of(pipeline)
        assert (alert.alert_type, alert.source, alert.severity) == ("servo", "servo_3",
                                                                     "warning")
        assert (alert.value, alert.threshold, alert.resolved) == (WARM_C, 60.0, False)

        robot.send(HOT_C, 12)
        wait_until(lambda: len(console.events()) >= 2, message="escalation announced")
        [alert] = alerts_of(pipeline)
        assert (alert.severity, alert.value, alert.threshold) == ("critical", HOT_C, 75.0)

        robot.send(COOL_C, 12)
        wait_until(lambda: len(console.events()) >= 3, message="resolution announced")
        [alert] = alerts_of(pipeline)
        assert alert.resolved and alert.resolved_at is not None
        assert not alert.acknowledged  # cleared-unacknowledged until an operator acts
        # Time for stray duplicates to show up before counting them.
        wait_until(lambda: pipeline.service.stats().stored >= robot.seq, message="all stored")
        with pipeline.db.session() as session:
            history = [(e.event, e.actor) for e in AlertStore(session).history(alert.id)]
    finally:
        pipeline.stop()
    assert console.events() == [("raised", alert.id, "warning"),
                                ("escalated", alert.id, "critical"),
                                ("resolved", alert.id, "critical")]
    assert history == [("raised", None), ("escalated", None), ("resolved", None)]
    assert len(alerts_of_db(pg_url)) == 1
    assert pipeline.service.alert_events == {"raised": 1, "escalated": 1, "resolved": 1}


def alerts_of_db(url: str) -> list[Alert]:
    from services.records.db import Database

    db = Database(url)
    try:
        with db.session() as session:
            return list(session.scalars(select(Alert)))
    finally:
        db.dispose()


def test_two_ingest_instances_on_the_same_stream_create_one_alert(
        mosquitto, pg_url, publisher, console):
    first = start_ingest(mosquitto.port, pg_url, client_id="ingest-a", alerts=True)
    second = start_ingest(mosquitto.port, pg_url, client_id="ingest-b", alerts=True)
    try:
        robot = ServoRobot(publisher)
        # The whole life of the alert at once: each instance batches it differently.
        robot.send(NORMAL_C, 3)
        robot.send(WARM_C, 14)
        robot.send(HOT_C, 14)
        robot.send(COOL_C, 14)
        for pipeline in (first, second):
            wait_until(lambda p=pipeline: p.service.stats().stored >= robot.seq,
                       message="both instances stored everything")
        wait_until(lambda: len(console.events()) >= 3, message="three announcements")
        [alert] = alerts_of(first)
        with first.db.session() as session:
            history = [e.event for e in AlertStore(session).history(alert.id)]
    finally:
        first.stop()
        second.stop()
    assert alert.resolved and alert.severity == "critical"
    assert history == ["raised", "escalated", "resolved"]
    assert [event for event, _, _ in console.events()] == ["raised", "escalated", "resolved"]
    totals = {event: first.service.alert_events.get(event, 0)
              + second.service.alert_events.get(event, 0)
              for event in ("raised", "escalated", "resolved")}
    assert totals == {"raised": 1, "escalated": 1, "resolved": 1}


def test_emergency_stop_and_going_offline_raise_alerts_that_resolve(
        mosquitto, pg_url, publisher, console):
    settings = replace(FAST, stale_after_s=1.0)
    pipeline = start_ingest(mosquitto.port, pg_url, settings=settings, alerts=True)
    try:
        now = datetime.now(UTC)
        publisher.send(*encode("status", ROBOT, 1, {
            "status": "emergency_stopped", "emergency_stopped": True,
            "emergency_reason": "operator pressed e-stop"}, ts=now))
        wait_until(lambda: console.events(), message="emergency announced")
        [stop] = alerts_of(pipeline)
        assert (stop.alert_type, stop.source, stop.severity) == ("system", "emergency_stop",
                                                                  "critical")
        publisher.send(*encode("status", ROBOT, 2, {"status": "online"},
                               ts=now + timedelta(seconds=1)))
        wait_until(lambda: alerts_of(pipeline)[0].resolved, message="emergency resolved")

        # Silence: the stale check marks the robot offline and raises a network alert.
        wait_until(lambda: any(a.alert_type == "network" for a in alerts_of(pipeline)),
                   timeout_s=20, message="network alert for the silent robot")
        network = next(a for a in alerts_of(pipeline) if a.alert_type == "network")
        assert (network.source, network.severity, network.resolved) == (
            "connectivity", "critical", False)
        robot = ServoRobot(publisher)
        robot.seq = 2
        robot.send(NORMAL_C, 1)  # it talks again
        wait_until(lambda: all(a.resolved for a in alerts_of(pipeline)),
                   message="network alert resolved when the robot is back")
    finally:
        pipeline.stop()
    assert [(e, t) for e, _, t in [(a.event, a.id, a.alert_type) for a in console.items]] == [
        ("raised", "system"), ("resolved", "system"),
        ("raised", "network"), ("resolved", "network")]


def test_a_restarted_ingest_resumes_open_alerts_instead_of_raising_them_again(
        mosquitto, pg_url, publisher, console):
    pipeline = start_ingest(mosquitto.port, pg_url, alerts=True)
    robot = ServoRobot(publisher)
    try:
        robot.send(WARM_C, 12)
        wait_until(lambda: console.events(), message="raised announced")
        wait_until(lambda: pipeline.service.stats().stored >= robot.seq, message="stored")
    finally:
        pipeline.stop()
    restarted = start_ingest(mosquitto.port, pg_url, alerts=True)
    try:
        wait_until(lambda: restarted.engine.open_alerts(), message="engine resumed")
        assert restarted.engine.open_alerts() == [(ROBOT, "servo", "servo_3", "warning")]
        robot.send(WARM_C, 12)  # still warm: nothing new
        robot.send(COOL_C, 12)
        wait_until(lambda: len(console.events()) >= 2, message="resolution announced")
    finally:
        restarted.stop()
    [alert] = alerts_of_db(pg_url)
    assert console.events() == [("raised", alert.id, "warning"),
                                ("resolved", alert.id, "warning")]


def test_a_failing_alert_engine_costs_alerts_never_data(mosquitto, pg_url, publisher, console):
    def thresholds_unreadable(robot_id: str):
        raise RuntimeError("thresholds table unreadable")

    pipeline = start_ingest(mosquitto.port, pg_url, alerts=AlertEngine(thresholds_unreadable))
    try:
        robot = ServoRobot(publisher)
        robot.send(HOT_C, 15)
        wait_until(lambda: pipeline.service.stats().stored >= robot.seq, message="stored")
        start, stop = robot.start, robot.start + timedelta(minutes=1)
        (bucket,) = pipeline.store.query(ROBOT, "servos", "temperature", start, stop, 1,
                                         "servo_3")
    finally:
        pipeline.stop()
    assert bucket.max == HOT_C
    assert pipeline.service.stats().rejected == 0
    assert alerts_of_db(pg_url) == [] and console.items == []


def test_a_clean_stop_raises_no_network_alert_a_lost_connection_does(
        mosquitto, pg_url, console, tmp_path):
    """Two real agent processes: one stopped the way a lab stops it (SIGTERM: it says
    goodbye), one SIGKILLed (the broker publishes its last will)."""
    pipeline = start_ingest(mosquitto.port, pg_url, alerts=True)
    calm = processes.start_agent("calm_01", mosquitto.port, tmp_path)
    lost = processes.start_agent("lost_01", mosquitto.port, tmp_path)
    try:
        def statuses() -> dict[str, str]:
            with pipeline.db.session() as session:
                return {r.robot_id: r.status for r in RobotRepository(session).list()}

        wait_until(lambda: statuses().get("calm_01") == "online"
                   and statuses().get("lost_01") == "online", 30, message="both online")
        assert calm.stop() == 0, calm.log()
        wait_until(lambda: statuses()["calm_01"] == "offline", 10, message="goodbye stored")
        lost.kill()
        wait_until(lambda: alerts_of(pipeline, "lost_01"), 10, message="lost one alerted")
        time.sleep(2)  # room for a wrong alert about the calm robot to show up
    finally:
        calm.stop()
        lost.stop()
        pipeline.stop()
    assert [a.robot_id for a in alerts_of_db(pg_url)] == ["lost_01"]
    [alert] = alerts_of(pipeline, "lost_01")
    assert (alert.alert_type, alert.source, alert.severity, alert.resolved) == (
        "network", "connectivity", "critical", False)
    assert alert.title == "Robot connection lost" and "last will" in alert.message
    assert [(a.event, a.robot_id) for a in console.items] == [("raised", "lost_01")]


def test_a_manual_resolve_sticks_while_the_condition_holds(
        mosquitto, pg_url, publisher, console):
    pipeline = start_ingest(mosquitto.port, pg_url, alerts=True)
    robot = ServoRobot(publisher)
    operator = AuthUser("u1", "alice", "operator")
    try:
        robot.send(WARM_C, 12)
        wait_until(lambda: alerts_of(pipeline), message="raised")
        [alert] = alerts_of(pipeline)
        outcome = AlertService(pipeline.db).resolve(operator, alert.id, "sensor re-seated")
        assert outcome.resolved
        wait_until(lambda: pipeline.engine.held_alerts(), 15, message="engine holds it")
        robot.send(WARM_C, 30)  # still warm for three times raise_after_s: nothing new
        wait_until(lambda: pipeline.service.stats().stored >= robot.seq, message="stored")
        assert [a.id for a in alerts_of(pipeline)] == [alert.id]
        robot.send(COOL_C, 12)  # back in range: the rule re-arms quietly...
        robot.send(WARM_C, 12)  # ...and a new breach is a new alert
        wait_until(lambda: len(alerts_of(pipeline)) == 2, message="raised again after clearing")
    finally:
        pipeline.stop()
    assert [(e, i) for e, i, _ in console.events()] == [
        ("raised", alert.id), ("raised", alerts_of(pipeline)[1].id)]
