"""What operators do to alerts (acknowledge, resolve), with roles enforced here.

    service = AlertService(database, publish=lambda topic, payload: session.publish(...))
    outcome = service.acknowledge(user, alert_id, comment="fan replaced")
    if not outcome.acknowledged:
        banner.show(f"already acknowledged by {outcome.by} at {outcome.at}")

The role check comes before any database work, so a viewer's attempt changes nothing and
is refused with services.auth.PermissionDenied whatever the buttons showed.  A change is
committed first and announced on MQTT after, so every console hearing it can reload it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from services.alerts.announce import encode_announcement
from services.alerts.store import AckOutcome, AlertStore, ResolveOutcome
from services.auth import AuthUser, require
from services.records.db import Database
from services.records.models import Alert, AlertEvent
from services.records.repositories import Threshold, ThresholdRepository

logger = logging.getLogger(__name__)

Publish = Callable[[str, bytes], None]


def database_thresholds(database: Database) -> Callable[[str], dict[str, Threshold]]:
    """The AlertEngine's threshold source: the robot's effective thresholds, read in a
    short session of its own (the engine caches them for RuleSettings.thresholds_ttl_s)."""

    def effective(robot_id: str) -> dict[str, Threshold]:
        with database.session() as session:
            return ThresholdRepository(session).effective(robot_id)

    return effective


class AlertService:
    def __init__(self, database: Database, publish: Publish | None = None) -> None:
        self._db = database
        self._publish = publish

    # -- operator actions -----------------------------------------------------------
    def acknowledge(self, user: AuthUser, alert_id: int,
                    comment: str | None = None) -> AckOutcome:
        require(user, "acknowledge_alert")
        with self._db.session() as session:
            outcome = AlertStore(session).acknowledge(alert_id, user.username, comment)
        if outcome.acknowledged:
            self.announce(outcome.alert, "acknowledged")
        return outcome

    def acknowledge_many(self, user: AuthUser, alert_ids: Iterable[int],
                         comment: str | None = None) -> list[AckOutcome]:
        """"Acknowledge selected": each alert on its own, so one already acknowledged by
        someone else is reported rather than failing the rest."""
        require(user, "acknowledge_alert")
        return [self.acknowledge(user, alert_id, comment) for alert_id in alert_ids]

    def resolve(self, user: AuthUser, alert_id: int, reason: str) -> ResolveOutcome:
        require(user, "resolve_alert")
        with self._db.session() as session:
            outcome = AlertStore(session).resolve_manually(alert_id, user.username, reason)
        if outcome.resolved:
            self.announce(outcome.alert, "resolved")
        return outcome

    def announce(self, alert: Alert, event: str) -> None:
        """Publish the alert's new state; a failure is logged, not raised: the change is
        committed already, and consoles reload from the database when they reconnect."""
        if self._publish is None:
            return
        topic, payload = encode_announcement(alert, event)
        try:
            self._publish(topic, payload)
        except Exception:
            logger.exception("could not announce %s of alert %s on %s", event, alert.id, topic)

    # -- reads (each in a short session; the rows come back detached) --------------------
    def get(self, alert_id: int) -> Alert | None:
        with self._db.session() as session:
            return AlertStore(session).get(alert_id)

    def list(self, severity: str | None = None, robot_id: str | None = None,
             state: str | None = None, since: datetime | None = None,
             limit: int = 500) -> list[Alert]:
        with self._db.session() as session:
            return AlertStore(session).list(severity, robot_id, state, since, limit)

    def history(self, alert_id: int) -> list[AlertEvent]:
        with self._db.session() as session:
            return AlertStore(session).history(alert_id)

    def unacknowledged_counts(self) -> dict[str, int]:
        with self._db.session() as session:
            return AlertStore(session).unacknowledged_counts()

    def unacknowledged_by_robot(self) -> dict[str, int]:
        with self._db.session() as session:
            return AlertStore(session).unacknowledged_by_robot()
