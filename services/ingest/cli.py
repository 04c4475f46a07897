"""`tonypi-ingest`: run the ingest service next to Mosquitto, InfluxDB and PostgreSQL."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from services.alerts.engine import AlertEngine
from services.alerts.service import database_thresholds
from services.history.factory import open_history_store
from services.ingest.health import offline_will
from services.ingest.service import IngestService
from services.mqtt_session import MqttSession
from services.records.db import Database
from services.records.migrate import upgrade
from services.secrets import SecretUnavailable, get_secret
from services.settings import ServerSettings, SettingsError, load_settings

logger = logging.getLogger(__name__)


def build_service(settings: ServerSettings) -> tuple[IngestService, Database]:
    """Wire the service from settings; migrations run first so the schema is current."""
    db = Database(settings.records.url, password=get_secret("database"))
    upgrade(db.engine.url.render_as_string(hide_password=False))
    store = open_history_store(settings)
    mqtt = settings.mqtt
    session = MqttSession(
        mqtt.host, mqtt.port, client_id=mqtt.client_id, clean_session=False, manual_ack=True,
        username=mqtt.username, password=get_secret("mqtt") if mqtt.username else None,
        tls=mqtt.tls, keepalive_s=mqtt.keepalive_s, will=offline_will(mqtt.client_id))
    # Thresholds come from alert_thresholds (global rows overridden per robot).
    engine = AlertEngine(database_thresholds(db))
    service = IngestService(session, store, db, settings.ingest,
                            shared_group=mqtt.shared_group, alerts=engine,
                            instance=mqtt.client_id)
    return service, db


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tonypi-ingest", description=__doc__)
    parser.add_argument("--config", help="TOML settings file (secrets never go here)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
        service, db = build_service(settings)
    except (SettingsError, SecretUnavailable, ValueError) as exc:
        logger.error("cannot start: %s", exc)
        return 2
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    service.start()
    logger.info("ingest running: broker %s:%s, history %s, records %s", settings.mqtt.host,
                settings.mqtt.port, settings.history.backend, db.describe())
    stopping.wait()
    service.stop()
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
