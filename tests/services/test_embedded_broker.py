"""The embedded (amqtt) broker with the project's real MQTT clients: paho, MqttSession and
the agent's publisher, over real loopback TCP."""

from __future__ import annotations

import gc
import os
import socket
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from services.embedded_broker import EmbeddedBroker, EmbeddedBrokerError
from services.mqtt_session import MqttSession, ReceivedMessage
from tests.robot_agent.helpers import Subscriber, agent_config, make_agent
from tests.support.waiting import wait_until

ROBOT = "embedded_bot"


def open_sockets() -> int | None:
    """Sockets this process holds (Linux), to catch a listener or connection left open."""
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.is_dir():
        return None
    count = 0
    for fd in os.listdir(fd_dir):
        try:
            count += os.readlink(fd_dir / fd).startswith("socket:")
        except OSError:  # closed while we looked
            pass
    return count


def paho_client(port: int, client_id: str = "") -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv311)
    client.connect("127.0.0.1", port, keepalive=10)
    client.loop_start()
    return client


def close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
def broker():
    embedded = EmbeddedBroker()
    embedded.start()
    yield embedded
    embedded.stop()


def test_starts_and_stops_twice_in_one_process_leaving_nothing_behind():
    threads_before = set(threading.enumerate())
    sockets_before = open_sockets()
    ports = []
    for _ in range(2):
        broker = EmbeddedBroker()
        began = time.monotonic()
        broker.start(timeout_s=10)
        assert time.monotonic() - began < 2
        assert broker.running and broker.port > 0
        ports.append(broker.port)
        client = paho_client(broker.port)  # it accepts connections as soon as start returns
        client.publish("tonypi/probe", b"x", qos=1).wait_for_publish(5)
        close(client)
        del client  # paho keeps a wake-up socket pair until the client is collected
        gc.collect()
        broker.stop(timeout_s=10)
        assert not broker.running
        assert refuses_connections(ports[-1])
        broker.stop()  # idempotent
        with pytest.raises(EmbeddedBrokerError):
            _ = broker.port
    assert set(threading.enumerate()) == threads_before
    if sockets_before is not None:
        assert open_sockets() == sockets_before


def test_a_port_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        broker = EmbeddedBroker(port=taken.getsockname()[1])
        with pytest.raises(EmbeddedBrokerError, match="failed to start"):
            broker.start(timeout_s=5)
    assert not broker.running
    assert not [t for t in threading.enumerate() if t.name == "embedded-mqtt-broker"]


def test_qos_0_and_1_reach_subscribers_at_the_subscription_qos(broker):
    received: list[tuple[str, bytes, int]] = []
    subscribed = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    sub.on_message = lambda c, u, m: received.append((m.topic, m.payload, m.qos))
    sub.on_subscribe = lambda *args: subscribed.set()
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    sub.subscribe([("q1/#", 1), ("q0/#", 0)])
    assert subscribed.wait(5)
    pub = paho_client(broker.port)
    try:
        for topic in ("q1/a", "q0/a"):
            pub.publish(topic, b"from qos 1", qos=1).wait_for_publish(5)
            pub.publish(topic, b"from qos 0", qos=0).wait_for_publish(5)
        wait_until(lambda: len(received) == 4, 5, message="four deliveries")
    finally:
        close(pub)
        close(sub)
    by_topic = {(t, p): q for t, p, q in received}
    assert by_topic[("q1/a", b"from qos 1")] == 1
    assert by_topic[("q0/a", b"from qos 1")] == 0  # downgraded to the subscription's QoS
    assert by_topic[("q0/a", b"from qos 0")] == 0
    # amqtt delivers at the subscription's QoS even when the publish was QoS 0 (Mosquitto
    # would send QoS 0); the module docstring says so, this keeps it honest.
    assert by_topic[("q1/a", b"from qos 0")] == 1


def test_retained_messages_reach_late_subscribers(broker):
    pub = paho_client(broker.port)
    pub.publish("tonypi/status/late", b"online", qos=1, retain=True).wait_for_publish(5)
    close(pub)
    late = Subscriber(broker.port, ["tonypi/status/+"])
    try:
        messages = late.wait_for(lambda m: len(m) >= 1)
    finally:
        late.close()
    assert (messages[0].topic, messages[0].payload, messages[0].retain) == (
        "tonypi/status/late", b"online", True)


def test_agent_publisher_births_acks_and_leaves_a_last_will(broker, tmp_path):
    def statuses(messages):
        return [m.json()["data"]["status"] for m in messages
                if m.topic == f"tonypi/status/{ROBOT}"]

    agent = make_agent(agent_config(tmp_path, broker.port, robot_id=ROBOT))
    agent.start()
    try:
        assert agent.publisher.wait_connected(5)
        # QoS 1 PUBACKs come back: the outbox empties as the agent samples.
        wait_until(lambda: agent.stats()["publisher"].acked >= 20, 10, message="20 acks")
        late = Subscriber(broker.port, [f"tonypi/status/{ROBOT}"])
        try:
            first = late.wait_for(lambda m: len(m) >= 1)[0]
            assert first.retain and first.json()["data"]["status"] == "online"
            # no DISCONNECT sent: the broker must publish the last will
            agent.publisher._client.socket().shutdown(socket.SHUT_RDWR)
            messages = late.wait_for(lambda m: "offline" in statuses(m))
            will = next(m for m in messages if m.json()["data"]["status"] == "offline")
            assert will.json()["seq"] is None  # the will, not the graceful stop's status
            late.wait_for(lambda m: statuses(m)[statuses(m).index("offline"):].count("online"))
        finally:
            late.close()
    finally:
        agent.stop()
    assert agent.outbox.count() == 0
    # the will was retained: a newcomer after the reconnect and graceful stop sees the
    # graceful stop's retained offline status, which replaced it
    newcomer = Subscriber(broker.port, [f"tonypi/status/{ROBOT}"])
    try:
        retained = newcomer.wait_for(lambda m: len(m) >= 1)[0]
    finally:
        newcomer.close()
    assert retained.retain and retained.json()["data"]["status"] == "offline"
    assert retained.json()["seq"] is not None


def test_mqtt_session_manual_ack_and_persistent_session(broker):
    client_id = "tonypi-ingest-embedded-test"
    received: list[ReceivedMessage] = []

    def open_session(ack_at_once: bool) -> MqttSession:
        session = MqttSession("127.0.0.1", broker.port, client_id=client_id,
                              clean_session=False, manual_ack=True)

        def on_message(message: ReceivedMessage) -> None:
            received.append(message)
            if ack_at_once:  # as the ingest worker does once a message is stored
                session.ack(message)

        session.subscribe("tonypi/+/+", on_message, qos=1)
        session.start()
        assert session.wait_connected(5)
        return session

    session = open_session(ack_at_once=False)
    pub = paho_client(broker.port)
    try:
        pub.publish("tonypi/battery/r1", b"first", qos=1).wait_for_publish(5)
        wait_until(lambda: len(received) == 1, 5, message="first delivery")
        # manual ack: the broker still waits for our PUBACK...
        assert broker.unacknowledged(client_id) == 1
        session.ack(received[0])
        # ...and takes it once we send it
        wait_until(lambda: broker.unacknowledged(client_id) == 0, 3, message="ack seen")

        # A persistent session: what is published while we are away is queued for us.
        session.stop()
        wait_until(lambda: broker.unacknowledged(client_id) == 0, 3)
        pub.publish("tonypi/battery/r1", b"while away", qos=1).wait_for_publish(5)
        # (amqtt sends the queued messages and waits for their PUBACKs before it answers
        # the SUBSCRIBE, so this session must ack by itself, as ingest does.)
        session = open_session(ack_at_once=True)
        wait_until(lambda: [m.payload for m in received] == [b"first", b"while away"], 5,
                   message="queued message after reconnect")
        assert received[1].qos == 1
        wait_until(lambda: broker.unacknowledged(client_id) == 0, 3, message="second ack")
    finally:
        close(pub)
        session.stop()


def test_clients_connecting_while_others_subscribe_are_not_dropped(broker, caplog):
    # amqtt walks its subscription table while a client connects; clients subscribing at
    # that moment used to make it drop the connecting client, which had to reconnect.
    # Robots starting together do exactly this.
    pub = paho_client(broker.port)
    for i in range(100):
        pub.publish(f"tonypi/status/r{i}", b"online", qos=1, retain=True)
    watcher = Subscriber(broker.port, ["tonypi/status/+", "probe/#"])
    count = 30
    connects = [0] * count
    clients = []
    for i in range(count):
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"probe-{i}",
                             protocol=mqtt.MQTTv311)

        def on_connect(c, userdata, flags, reason_code, properties, i=i):
            connects[i] += 1
            c.subscribe(f"tonypi/commands/probe-{i}", 1)
            c.publish(f"probe/{i}/{connects[i]}", b"hello", qos=1)

        client.on_connect = on_connect
        client.connect_async("127.0.0.1", broker.port)
        clients.append(client)
    try:
        with caplog.at_level("WARNING", logger="services.embedded_broker"):
            for client in clients:
                client.loop_start()
            watcher.wait_for(lambda m: {x.topic.split("/")[1] for x in m
                                        if x.topic.startswith("probe/")} == {
                                            str(i) for i in range(count)}, timeout_s=10)
            time.sleep(0.5)  # a dropped client would be reconnecting by now
        assert connects == [1] * count, "some clients were dropped and had to reconnect"
        assert not [r.getMessage() for r in caplog.records
                    if r.name == "services.embedded_broker"]
    finally:
        for client in clients:
            close(client)
        watcher.close()
        close(pub)
