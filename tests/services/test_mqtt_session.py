"""Dispatch of received messages to subscribers (the handler cache must follow changes)."""

import paho.mqtt.client as mqtt

from services.mqtt_session import MqttSession


def deliver(session: MqttSession, topic: str) -> None:
    msg = mqtt.MQTTMessage(mid=1, topic=topic.encode())
    msg.payload = b"{}"
    session._on_message(None, None, msg)


def test_dispatch_follows_subscribe_and_unsubscribe():
    session = MqttSession("127.0.0.1", 1)  # never started: dispatch only
    seen: list[tuple[str, str]] = []
    stop_a = session.subscribe("tonypi/status/+", lambda m: seen.append(("a", m.topic)))
    deliver(session, "tonypi/status/r1")
    deliver(session, "tonypi/servos/r1")
    session.subscribe("$share/g/tonypi/#", lambda m: seen.append(("b", m.topic)))
    deliver(session, "tonypi/status/r1")  # cached topic, new subscriber must see it
    stop_a()
    deliver(session, "tonypi/status/r1")
    assert seen == [("a", "tonypi/status/r1"), ("a", "tonypi/status/r1"),
                    ("b", "tonypi/status/r1"), ("b", "tonypi/status/r1")]


def test_a_failing_handler_does_not_stop_the_others():
    session = MqttSession("127.0.0.1", 1)
    seen = []
    session.subscribe("tonypi/#", lambda m: 1 / 0)
    session.subscribe("tonypi/#", lambda m: seen.append(m.topic))
    deliver(session, "tonypi/logs/r1")
    assert seen == ["tonypi/logs/r1"]
