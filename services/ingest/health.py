"""Publishes this ingest instance's health (services.wire.ingest_health)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from services.ingest.stats import IngestStats
from services.mqtt_session import MqttSession, Will
from services.wire.ingest_health import IngestHealth, encode_health, health_topic

logger = logging.getLogger(__name__)

HEALTH_INTERVAL_S = 5.0  # a console calls an ingest silent after a few missed reports
HEALTH_QOS = 1


def offline_will(instance: str) -> Will:
    """What the broker publishes for us if we vanish: offline, retained."""
    health = IngestHealth(instance=instance, state="offline", ts=datetime.now(UTC))
    return Will(health_topic(instance), encode_health(health), qos=HEALTH_QOS, retain=True)


class HealthReporter:
    def __init__(self, session: MqttSession, instance: str) -> None:
        self._session = session
        self.instance = instance
        self._topic = health_topic(instance)
        self.last_store_at: datetime | None = None
        self.store_lag_s: float | None = None

    def stored(self, oldest_received_at: datetime, now: datetime) -> None:
        """A batch was committed; its oldest message had waited since `oldest_received_at`."""
        self.last_store_at = now
        self.store_lag_s = max(0.0, (now - oldest_received_at).total_seconds())

    def publish(self, stats: IngestStats, queue_depth: int, *, announce: bool = False,
                state: str = "online") -> None:
        health = IngestHealth(
            instance=self.instance, state=state, ts=datetime.now(UTC), announce=announce,
            counters=stats.as_dict(), queue_depth=queue_depth,
            store_lag_s=self.store_lag_s, last_store_at=self.last_store_at)
        try:
            # The announcement is news for whoever listens now, not a state to keep.
            self._session.publish(self._topic, encode_health(health), qos=HEALTH_QOS,
                                  retain=not announce)
        except Exception:  # health is best effort; storing is what matters
            logger.exception("could not publish ingest health")
