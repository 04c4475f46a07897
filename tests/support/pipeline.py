"""An in-process ingest service wired to real servers, and a plain MQTT publisher."""

from __future__ import annotations

import json
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from services.alerts.engine import AlertEngine, RuleSettings
from services.alerts.service import database_thresholds
from services.history.sql_store import SqlHistoryStore
from services.ingest.health import offline_will
from services.ingest.service import IngestService
from services.mqtt_session import MqttSession
from services.records.db import Database
from services.records.migrate import upgrade
from services.settings import IngestSettings

FAST = IngestSettings(batch_max=500, flush_interval_s=0.05, stale_after_s=30,
                      stats_interval_s=3600)


@dataclass
class Pipeline:
    service: IngestService
    store: SqlHistoryStore
    db: Database
    engine: AlertEngine | None = None

    def stop(self) -> None:
        self.service.stop()
        self.store.close()
        self.db.dispose()


def start_ingest(broker_port: int, records_url: str, history_url: str | None = None,
                 settings: IngestSettings = FAST, client_id: str = "tonypi-ingest-test",
                 alerts: AlertEngine | RuleSettings | bool = False) -> Pipeline:
    """alerts: True (default rules), RuleSettings or a ready AlertEngine give the service
    an alert engine (thresholds from the records database unless the engine has its own)."""
    upgrade(records_url)
    if history_url and history_url != records_url:
        upgrade(history_url)
    db = Database(records_url)
    store = SqlHistoryStore(history_url or records_url)
    session = MqttSession("127.0.0.1", broker_port, client_id=client_id, clean_session=False,
                          manual_ack=True, will=offline_will(client_id))
    engine = alerts if isinstance(alerts, AlertEngine) else None
    if engine is None and alerts is not False:
        rules = alerts if isinstance(alerts, RuleSettings) else RuleSettings()
        engine = AlertEngine(database_thresholds(db), rules)
    service = IngestService(session, store, db, settings, alerts=engine, instance=client_id)
    service.start()
    assert session.wait_connected(10), "ingest did not connect"
    return Pipeline(service, store, db, engine)


class Publisher:
    """A bare paho publisher, the way existing (legacy) robots talk."""

    def __init__(self, port: int, qos: int = 0) -> None:
        self.qos = qos
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def send(self, topic: str, body: dict | bytes) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.client.publish(topic, payload, qos=self.qos).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
