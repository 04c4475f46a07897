"""The ingest reports its health on tonypi/ingest/<instance>, retained, with a last will."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt

from services.wire.encode import encode
from services.wire.ingest_health import HEALTH_FILTER, IngestHealth, decode_health
from tests.support.pipeline import Publisher, start_ingest
from tests.support.waiting import wait_until


class HealthWatcher:
    def __init__(self, port: int) -> None:
        self.reports: list[tuple[IngestHealth, bool]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(HEALTH_FILTER, qos=1)
        self.client.loop_start()
        assert subscribed.wait(5)

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.reports.append((decode_health(message.topic, message.payload),
                                 bool(message.retain)))

    def latest(self) -> tuple[IngestHealth, bool] | None:
        with self._lock:
            return self.reports[-1] if self.reports else None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_ingest_announces_itself_reports_counters_and_says_offline(mosquitto, pg_url):
    watcher = HealthWatcher(mosquitto.port)
    pipe = start_ingest(mosquitto.port, pg_url, client_id="ingest-health")
    try:
        wait_until(lambda: any(h.announce for h, _ in watcher.reports), message="announce")
        announce = next(h for h, _ in watcher.reports if h.announce)
        assert announce.instance == "ingest-health" and announce.state == "online"
        publisher = Publisher(mosquitto.port, qos=1)
        publisher.send(*encode("battery", "health_bot", 1, {"percentage": 50.0}))
        publisher.close()
        wait_until(lambda: pipe.service.stats().stored == 1, message="stored")
    finally:
        pipe.stop()
    wait_until(lambda: watcher.latest()[0].state == "offline", message="offline")
    health, _ = watcher.latest()
    assert health.counters["stored"] == 1
    assert health.last_store_at is not None and 0 <= health.store_lag_s < 5
    watcher.close()
    # A console that starts later still learns the state: it is retained.
    late = HealthWatcher(mosquitto.port)
    try:
        wait_until(lambda: late.latest() is not None, message="retained report")
        health, retained = late.latest()
        assert retained and health.state == "offline" and not health.announce
    finally:
        late.close()


def test_a_vanished_ingest_is_offline_by_its_last_will(mosquitto, pg_url):
    pipe = start_ingest(mosquitto.port, pg_url, client_id="ingest-will")
    watcher = HealthWatcher(mosquitto.port)
    try:
        wait_until(lambda: (r := watcher.latest()) is not None and r[0].state == "online",
                   message="online")
        pipe.service._session._client.socket().close()  # as if the process died
        # paho reconnects at once and the ingest says online again: look for the will.
        wait_until(lambda: any(h.state == "offline" for h, _ in watcher.reports),
                   timeout_s=60, message="last will")
    finally:
        watcher.close()
        pipe.stop()
