"""AlertService: roles checked before the database, commit, then announce (both backends)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest

from services.alerts.announce import ALERTS_SUBSCRIPTION, parse_announcement
from services.alerts.engine import AlertChange
from services.alerts.service import AlertService, database_thresholds
from services.alerts.store import AlertStore
from services.auth import AuthUser, PermissionDenied
from services.mqtt_session import MqttSession
from services.records.db import Database
from services.records.migrate import upgrade
from services.records.repositories import RobotRepository, ThresholdRepository
from tests.support.waiting import wait_until

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ALICE = AuthUser("u1", "alice", "operator")
BOB = AuthUser("u2", "bob", "admin")
VERA = AuthUser("u3", "vera", "viewer")


@pytest.fixture(params=["sqlite", "postgresql"])
def records_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def db(records_url: str) -> Iterator[Database]:
    upgrade(records_url)
    database = Database(records_url)
    with database.session() as session:
        RobotRepository(session).touch("r1", T0)
    yield database
    database.dispose()


class Published(list):
    def __call__(self, topic: str, payload: bytes) -> None:
        self.append(parse_announcement(topic, payload))


@pytest.fixture
def published() -> Published:
    return Published()


@pytest.fixture
def service(db, published) -> AlertService:
    return AlertService(db, published)


def raise_alert(db: Database, source: str = "servo_3") -> int:
    change = AlertChange("raised", "r1", "servo", source, "warning", 65.0, 60.0,
                         "Servo hot", "65 °C", T0, {"metric_type": "servo_temp"})
    with db.session() as session:
        alert, event = AlertStore(session).apply(change)
    assert event == "raised"
    return alert.id


def test_operator_acknowledges_and_it_is_announced(db, service, published):
    alert_id = raise_alert(db)
    outcome = service.acknowledge(ALICE, alert_id, "looking")
    assert outcome.acknowledged and outcome.by == "alice"
    [announcement] = published
    assert (announcement.event, announcement.id, announcement.robot_id) == (
        "acknowledged", alert_id, "r1")
    assert (announcement.acknowledged, announcement.acknowledged_by) == (True, "alice")
    assert announcement.acknowledged_at == outcome.at
    assert service.get(alert_id).acknowledged_by == "alice"
    assert [(e.event, e.actor) for e in service.history(alert_id)] == [
        ("raised", None), ("acknowledged", "alice")]


def test_the_second_acknowledge_is_told_who_won_and_not_announced(db, service, published):
    alert_id = raise_alert(db)
    first = service.acknowledge(ALICE, alert_id)
    second = service.acknowledge(BOB, alert_id)
    assert not second.acknowledged
    assert (second.by, second.at) == ("alice", first.at)
    assert len(published) == 1


def test_a_viewer_is_refused_before_the_database_is_touched(db, service, published):
    alert_id = raise_alert(db)
    with pytest.raises(PermissionDenied, match="vera"):
        service.acknowledge(VERA, alert_id)
    with pytest.raises(PermissionDenied, match="viewer"):
        service.resolve(VERA, alert_id, "not mine")
    with pytest.raises(PermissionDenied):
        service.acknowledge_many(VERA, [alert_id])
    alert = service.get(alert_id)
    assert not alert.acknowledged and not alert.resolved
    assert [e.event for e in service.history(alert_id)] == ["raised"]
    assert published == []


def test_a_viewer_is_refused_even_for_an_alert_that_does_not_exist(service):
    with pytest.raises(PermissionDenied):  # not UnknownAlert: no database work at all
        service.acknowledge(VERA, 12345)


def test_acknowledge_many_reports_each(db, service, published):
    first, second = raise_alert(db, "servo_3"), raise_alert(db, "servo_4")
    service.acknowledge(BOB, second)
    outcomes = service.acknowledge_many(ALICE, [first, second], "batch")
    assert [(o.acknowledged, o.by) for o in outcomes] == [(True, "alice"), (False, "bob")]
    assert [a.id for a in published] == [second, first]
    assert service.unacknowledged_counts() == {"warning": 0, "critical": 0}


def test_resolve_by_hand_with_a_reason(db, service, published):
    alert_id = raise_alert(db)
    outcome = service.resolve(BOB, alert_id, "thermistor replaced")
    assert outcome.resolved and outcome.alert.resolved
    [announcement] = published
    assert (announcement.event, announcement.resolved) == ("resolved", True)
    assert announcement.resolved_at == outcome.at
    again = service.resolve(ALICE, alert_id, "me too")
    assert (again.resolved, again.by) == (False, "bob")
    assert len(published) == 1
    assert service.list(state="cleared")[0].id == alert_id
    assert service.list(state="active") == []
    assert service.unacknowledged_by_robot() == {"r1": 1}  # resolving is not acknowledging


def test_a_failing_publish_does_not_undo_the_change(db):
    def broken(topic: str, payload: bytes) -> None:
        raise OSError("broker gone")

    alert_id = raise_alert(db)
    outcome = AlertService(db, broken).acknowledge(ALICE, alert_id)
    assert outcome.acknowledged
    assert AlertService(db).get(alert_id).acknowledged  # no publisher at all works too


def test_database_thresholds_are_the_effective_ones(db):
    with db.session() as session:
        ThresholdRepository(session).set("servo_temp", 50.0, 65.0, robot_id="r1")
    thresholds = database_thresholds(db)
    assert (thresholds("r1")["servo_temp"].warning, thresholds("r2")["servo_temp"].warning) \
        == (50.0, 60.0)
    assert thresholds("r2")["disk"].critical == 95.0


@pytest.mark.parametrize("records_url", ["postgresql"], indirect=True)
def test_announcements_reach_an_mqtt_subscriber(db, mosquitto):
    received: list = []
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.on_message = lambda c, u, msg: received.append(
        (msg.qos, parse_announcement(msg.topic, msg.payload)))
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect("127.0.0.1", mosquitto.port)
    client.subscribe(ALERTS_SUBSCRIPTION, qos=1)
    client.loop_start()
    session = MqttSession("127.0.0.1", mosquitto.port, client_id="console-test")
    session.start()
    try:
        assert subscribed.wait(10) and session.wait_connected(10)
        alert_id = raise_alert(db)
        AlertService(db, lambda topic, payload: session.publish(topic, payload, qos=1)) \
            .acknowledge(ALICE, alert_id)
        wait_until(lambda: received, message="announcement received")
    finally:
        session.stop()
        client.loop_stop()
        client.disconnect()
    [(qos, announcement)] = received
    assert qos == 1
    assert (announcement.event, announcement.id, announcement.acknowledged_by) == (
        "acknowledged", alert_id, "alice")
    assert announcement.robot_id == "r1"
