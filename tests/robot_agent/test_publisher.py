"""The publisher against a real Mosquitto: order, bounded in-flight window, outages."""

from __future__ import annotations

import socket
import threading
import time

from robot_agent.config import MqttConfig
from robot_agent.outbox import Outbox
from robot_agent.publisher import Publisher
from tests.robot_agent.helpers import Subscriber


def test_delivers_every_row_in_order_within_the_in_flight_window(tmp_path, mosquitto):
    outbox = Outbox(tmp_path / "o.db")
    for i in range(400):
        outbox.put(f"t/{i % 3}", str(i).encode())
    sub = Subscriber(mosquitto.port, ["t/#"])
    publisher = Publisher(MqttConfig(host="127.0.0.1", port=mosquitto.port), "pub_bot",
                          outbox, max_in_flight=10, await_receipts=False)
    peak = [0]
    watching = threading.Event()

    def watch():
        while not watching.is_set():
            peak[0] = max(peak[0], publisher.stats().in_flight)
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        publisher.start()
        messages = sub.wait_for(lambda m: len(m) >= 400)
        assert publisher.drain(5)
    finally:
        watching.set()
        watcher.join()
        publisher.stop()
        sub.close()
    assert [int(m.payload) for m in messages] == list(range(400))
    assert outbox.count() == 0
    stats = publisher.stats()
    assert stats.published == 400 and stats.acked == 400 and stats.failed == 0
    assert 1 <= peak[0] <= 10


def test_subscribe_survives_reconnect_and_unsubscribe_stops_delivery(tmp_path, mosquitto):
    publisher = Publisher(MqttConfig(host="127.0.0.1", port=mosquitto.port), "sub_bot",
                          Outbox(tmp_path / "o.db"), reconnect_max_delay_s=1,
                          await_receipts=False)
    got: list[bytes] = []
    unsubscribe = publisher.subscribe("cmd/sub_bot", lambda topic, payload: got.append(payload))
    publisher.start()
    sender = Subscriber(mosquitto.port, ["unused/#"])
    try:
        assert publisher.wait_connected(5)
        _send_until_received(sender, got, b"one")
        publisher._client.socket().shutdown(socket.SHUT_RDWR)  # connection lost
        deadline = time.monotonic() + 5
        while publisher.stats().reconnects < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert publisher.stats().reconnects == 1
        _send_until_received(sender, got, b"two")  # resubscribed in on_connect
        unsubscribe()
        time.sleep(0.2)
        sender.publish("cmd/sub_bot", b"three")
        time.sleep(0.3)
        assert b"three" not in got
    finally:
        publisher.stop()
        sender.close()


def _send_until_received(sender: Subscriber, got: list[bytes], payload: bytes) -> None:
    # the subscription may land a moment after the connection: retry until it does
    deadline = time.monotonic() + 5
    while payload not in got and time.monotonic() < deadline:
        sender.publish("cmd/sub_bot", payload)
        time.sleep(0.1)
    assert payload in got
