"""Alert rows and their history, inside a caller's Session (the caller commits).

Race safety comes from the database, not from locks in this process:
- at most one open alert per (robot, alert type, source): a new one is inserted with
  INSERT .. ON CONFLICT DO NOTHING on the partial unique index ux_alerts_open, so a second
  ingest instance applying the same change finds the first one's row instead;
- escalation, resolution and acknowledgement are conditional UPDATEs (`WHERE severity <>
  'critical'`, `WHERE resolved = false`, `WHERE acknowledged = false`): of two writers
  only one changes the row, and the other is told who did.
Every change also writes an alert_events row, so the history shows who did what, when.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.records.errors import InvalidRecord, RecordsError
from services.records.models import ROBOT_ID_MAX_LEN, Alert, AlertEvent
from services.records.types import require_aware, require_text
from services.vocabulary import SEVERITIES

logger = logging.getLogger(__name__)

__all__ = ["AckOutcome", "AlertStore", "ResolveOutcome", "UnknownAlert"]

STATES = ("active", "cleared", "unacknowledged", "all")
MAX_ALERTS_LISTED = 10_000
ACTOR_MAX_LEN = 50  # alert_events.actor and alerts.acknowledged_by
ALERT_TYPE_MAX_LEN, SOURCE_MAX_LEN, TITLE_MAX_LEN = 50, 100, 200  # alerts columns
NOTE_MAX_LEN = 2000  # comments and reasons live in alert_events.details
# Must be the very text of ux_alerts_open's predicate: SQLite only uses a partial index
# as an ON CONFLICT target when the WHERE clauses match.
OPEN_PREDICATE = "resolved = false"
_OPEN_ATTEMPTS = 3


class UnknownAlert(RecordsError, LookupError):
    """No alert with that id."""


@dataclass(frozen=True)
class AckOutcome:
    """acknowledged False: someone else was first; `by` and `at` say who and when."""

    acknowledged: bool
    alert: Alert
    by: str | None
    at: datetime | None


@dataclass(frozen=True)
class ResolveOutcome:
    """resolved False: it was resolved already; `by` is None when the rules cleared it."""

    resolved: bool
    alert: Alert
    by: str | None
    at: datetime | None


def _open_key(robot_id: str, alert_type: str, source: str) -> list:
    return [Alert.robot_id == robot_id, Alert.alert_type == alert_type,
            Alert.source == source, Alert.resolved.is_(False)]


class AlertStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- changes from the rule engine -------------------------------------------------
    def apply(self, change: Any) -> tuple[Alert | None, str]:
        """Apply one services.alerts.engine.AlertChange.

        Returns (alert, event), event one of raised / escalated / resolved / unchanged.
        "unchanged" means another writer made the change first (or, for resolved, that no
        alert is open); the alert is then the open row, or None if there is none.
        """
        # Checked here so a bad change fails as InvalidRecord, never as a database error
        # that the ingest would take for an outage and retry for ever.
        require_text(change.robot_id, ROBOT_ID_MAX_LEN, "robot_id")
        require_text(change.alert_type, ALERT_TYPE_MAX_LEN, "alert_type")
        require_text(change.source, SOURCE_MAX_LEN, "source")
        require_text(change.title, TITLE_MAX_LEN, "title")
        require_aware(change.at, "at")
        if change.severity not in SEVERITIES:
            raise InvalidRecord(f"unknown severity {change.severity!r}")
        if change.kind in ("raised", "escalated"):
            return self._open_or_escalate(change)
        if change.kind == "resolved":
            return self._resolve_open(change)
        raise InvalidRecord(f"unknown alert change {change.kind!r}")

    def _open_or_escalate(self, change: Any) -> tuple[Alert | None, str]:
        # An "escalated" whose alert is not open (resolved by hand meanwhile) opens a new
        # one: the condition is real and critical.
        stale = self._resolved_by_rules_since(change)
        if stale is not None:
            return stale, "unchanged"
        for _ in range(_OPEN_ATTEMPTS):
            alert_id = self._insert_open(change)
            if alert_id is not None:
                self._event(alert_id, "raised", change.at, None, _change_details(change))
                return self._fresh(alert_id), "raised"
            if change.severity == "critical":
                alert_id = self.session.execute(
                    update(Alert).where(*_open_key(change.robot_id, change.alert_type,
                                                   change.source),
                                        Alert.severity != "critical")
                    .values(severity="critical", value=change.value,
                            threshold=change.threshold, title=change.title,
                            message=change.message, details=dict(change.details))
                    .returning(Alert.id).execution_options(synchronize_session=False)
                ).scalar_one_or_none()
                if alert_id is not None:
                    self._event(alert_id, "escalated", change.at, None,
                                _change_details(change))
                    return self._fresh(alert_id), "escalated"
            existing = self.open_alert(change.robot_id, change.alert_type, change.source)
            if existing is not None:
                return existing, "unchanged"
            # The conflicting row was resolved between our statements: try again.
        raise RecordsError(f"could not open alert {change.alert_type}/{change.source} of "
                           f"{change.robot_id}: it keeps changing under us")

    def _resolved_by_rules_since(self, change: Any) -> Alert | None:
        """The alert of this key that the rules resolved at or after the change's time.

        Another ingest instance that is further along the same stream may have raised
        and resolved the alert already; this instance's late "raised" is then old news
        and must not open a second alert.  Rule resolutions carry sample times (manual
        ones the server's clock), so only those are compared with the sample time.
        """
        return self.session.scalars(
            select(Alert).join(AlertEvent, AlertEvent.alert_id == Alert.id)
            .where(Alert.robot_id == change.robot_id, Alert.alert_type == change.alert_type,
                   Alert.source == change.source, Alert.resolved.is_(True),
                   AlertEvent.event == "resolved", AlertEvent.actor.is_(None),
                   AlertEvent.at >= change.at)
            .order_by(Alert.id.desc()).limit(1)).first()

    def _insert_open(self, change: Any) -> int | None:
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(Alert).values(
            robot_id=change.robot_id, alert_type=change.alert_type, source=change.source,
            severity=change.severity, title=change.title, message=change.message,
            value=change.value, threshold=change.threshold, acknowledged=False,
            resolved=False, details=dict(change.details), created_at=change.at,
        ).on_conflict_do_nothing(
            index_elements=[Alert.robot_id, Alert.alert_type, Alert.source],
            index_where=text(OPEN_PREDICATE),
        ).returning(Alert.id)
        # rowcount is -1 here with psycopg 3; RETURNING tells the truth.
        return self.session.execute(statement).scalar_one_or_none()

    def _resolve_open(self, change: Any) -> tuple[Alert | None, str]:
        alert_id = self.session.execute(
            update(Alert).where(*_open_key(change.robot_id, change.alert_type, change.source))
            .values(resolved=True, resolved_at=change.at)
            .returning(Alert.id).execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if alert_id is None:
            return None, "unchanged"
        self._event(alert_id, "resolved", change.at, None,
                    {"auto": True, **_change_details(change)})
        return self._fresh(alert_id), "resolved"

    # -- operators ------------------------------------------------------------------
    def acknowledge(self, alert_id: int, actor: str, comment: str | None = None, *,
                    at: datetime | None = None) -> AckOutcome:
        """Acknowledge unless someone was first; then the outcome names them instead."""
        require_text(actor, ACTOR_MAX_LEN, "actor")
        comment = _note(comment, "comment", required=False)
        at = require_aware(at, "at") if at is not None else datetime.now(UTC)
        won = self.session.execute(
            update(Alert).where(Alert.id == alert_id, Alert.acknowledged.is_not(True))
            .values(acknowledged=True, acknowledged_by=actor, acknowledged_at=at)
            .returning(Alert.id).execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if won is None:
            alert = self._existing(alert_id)
            return AckOutcome(False, alert, alert.acknowledged_by, alert.acknowledged_at)
        self._event(alert_id, "acknowledged", at, actor,
                    {"comment": comment} if comment else None)
        logger.info("alert %d acknowledged by %s", alert_id, actor)
        return AckOutcome(True, self._fresh(alert_id), actor, at)

    def resolve_manually(self, alert_id: int, actor: str, reason: str, *,
                         at: datetime | None = None) -> ResolveOutcome:
        """Resolve by hand with a reason, unless it is resolved already."""
        require_text(actor, ACTOR_MAX_LEN, "actor")
        reason = _note(reason, "reason", required=True)
        at = require_aware(at, "at") if at is not None else datetime.now(UTC)
        won = self.session.execute(
            update(Alert).where(Alert.id == alert_id, Alert.resolved.is_not(True))
            .values(resolved=True, resolved_at=at)
            .returning(Alert.id).execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if won is None:
            alert = self._existing(alert_id)
            first = self.session.scalars(
                select(AlertEvent).where(AlertEvent.alert_id == alert_id,
                                         AlertEvent.event == "resolved")
                .order_by(AlertEvent.id).limit(1)).first()
            return ResolveOutcome(False, alert, first.actor if first else None,
                                  alert.resolved_at)
        self._event(alert_id, "resolved", at, actor, {"manual": True, "reason": reason})
        logger.info("alert %d resolved by %s: %s", alert_id, actor, reason)
        return ResolveOutcome(True, self._fresh(alert_id), actor, at)

    # -- queries --------------------------------------------------------------------
    def get(self, alert_id: int) -> Alert | None:
        return self.session.get(Alert, alert_id)

    def open_alert(self, robot_id: str, alert_type: str, source: str) -> Alert | None:
        return self.session.scalars(
            select(Alert).where(*_open_key(robot_id, alert_type, source))
            .execution_options(populate_existing=True)).first()

    def list(self, severity: str | None = None, robot_id: str | None = None,
             state: str | None = None, since: datetime | None = None,
             limit: int = 500) -> list[Alert]:
        """Alerts newest first. state: active (not resolved), cleared (resolved),
        unacknowledged, or all (None too); since: raised at or after."""
        statement = select(Alert)
        if severity is not None:
            if severity not in SEVERITIES:
                raise InvalidRecord(f"unknown severity {severity!r}; expected {SEVERITIES}")
            statement = statement.where(Alert.severity == severity)
        if robot_id is not None:
            statement = statement.where(Alert.robot_id == robot_id)
        if state not in (None, *STATES):
            raise InvalidRecord(f"unknown alert state {state!r}; expected one of {STATES}")
        if state == "active":
            statement = statement.where(Alert.resolved.is_not(True))
        elif state == "cleared":
            statement = statement.where(Alert.resolved.is_(True))
        elif state == "unacknowledged":
            statement = statement.where(Alert.acknowledged.is_not(True))
        if since is not None:
            statement = statement.where(Alert.created_at >= require_aware(since, "since"))
        limit = max(0, min(limit, MAX_ALERTS_LISTED))
        statement = statement.order_by(Alert.created_at.desc(), Alert.id.desc()).limit(limit)
        return list(self.session.scalars(statement.execution_options(populate_existing=True)))

    def history(self, alert_id: int) -> list[AlertEvent]:
        """The alert's events in the order they were recorded (a robot's clock may run
        behind the server's, so `at` alone could put an acknowledge before the raise)."""
        return list(self.session.scalars(
            select(AlertEvent).where(AlertEvent.alert_id == alert_id)
            .order_by(AlertEvent.id)))

    def unacknowledged_counts(self) -> dict[str, int]:
        """Unacknowledged alerts (open or cleared) by severity, every severity present."""
        counts = dict.fromkeys(SEVERITIES, 0)
        rows = self.session.execute(
            select(Alert.severity, func.count()).where(Alert.acknowledged.is_not(True))
            .group_by(Alert.severity))
        counts.update({severity: count for severity, count in rows})
        return counts

    def unacknowledged_by_robot(self) -> dict[str, int]:
        """Unacknowledged alerts per robot; robots without any are left out."""
        rows = self.session.execute(
            select(Alert.robot_id, func.count()).where(Alert.acknowledged.is_not(True),
                                                       Alert.robot_id.is_not(None))
            .group_by(Alert.robot_id))
        return {robot_id: count for robot_id, count in rows}

    def open_keys(self) -> list[tuple[str, str, str, str]]:
        """(robot_id, alert_type, source, severity) of every open alert, for
        AlertEngine.resume after a restart."""
        rows = self.session.execute(
            select(Alert.robot_id, Alert.alert_type, Alert.source, Alert.severity)
            .where(Alert.resolved.is_(False)).order_by(Alert.id))
        return [tuple(row) for row in rows]

    # -- helpers --------------------------------------------------------------------
    def _event(self, alert_id: int, event: str, at: datetime, actor: str | None,
               details: Mapping[str, Any] | None) -> None:
        self.session.add(AlertEvent(alert_id=alert_id, event=event, at=at, actor=actor,
                                    details=dict(details) if details else None))
        self.session.flush()

    def _fresh(self, alert_id: int) -> Alert:
        # The row was changed by a Core UPDATE: reload whatever the session holds.
        return self.session.get(Alert, alert_id, populate_existing=True)

    def _existing(self, alert_id: int) -> Alert:
        alert = self.session.get(Alert, alert_id, populate_existing=True)
        if alert is None:
            raise UnknownAlert(f"no alert with id {alert_id}")
        return alert


def _change_details(change: Any) -> dict[str, Any]:
    return {**dict(change.details), "severity": change.severity, "value": change.value,
            "threshold": change.threshold}


def _note(value: str | None, name: str, *, required: bool) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidRecord(f"{name} must be text, got {type(value).__name__}")
    value = (value or "").strip()
    if required and not value:
        raise InvalidRecord(f"a {name} is required")
    if len(value) > NOTE_MAX_LEN:
        raise InvalidRecord(f"{name} longer than {NOTE_MAX_LEN} characters")
    return value or None
