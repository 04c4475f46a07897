"""What the ingest's worker does with the alert engine: feed it, announce its changes,
and keep it in step with alerts resolved elsewhere.  Worker thread only."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from services.alerts.announce import encode_announcement
from services.alerts.rules import CONNECTIVITY_OFFLINE, CONNECTIVITY_OK, CONNECTIVITY_STOPPED
from services.alerts.store import AlertStore
from services.mqtt_session import MqttSession
from services.wire.model import Message

if TYPE_CHECKING:
    from services.alerts.engine import AlertChange, AlertEngine
    from services.records.models import Alert

logger = logging.getLogger(__name__)

ANNOUNCE_QOS = 1
LAST_WILL_CAUSE = "its last will arrived (the broker lost the connection)"


def observe(engine: AlertEngine, messages: Sequence[Message],
            retained: Sequence[bool]) -> list[AlertChange]:
    """The engine's changes for one batch of stored messages."""
    changes: list[AlertChange] = []
    connectivity: dict[str, tuple[str, datetime]] = {}
    for message, was_retained in zip(messages, retained, strict=True):
        for sample in message.samples:
            changes += engine.observe_sample(sample)
        status = message.status
        if status is not None:
            changes += engine.observe_emergency(
                message.robot_id, status.emergency_stopped, status.emergency_reason,
                message.time)
        # A retained message is old news (a birth or a last will from whenever), not the
        # robot talking now.
        if not was_retained:
            connectivity[message.robot_id] = (connectivity_state(message),
                                              message.received_at)
    for robot_id, (state, at) in connectivity.items():
        cause = LAST_WILL_CAUSE if state == CONNECTIVITY_OFFLINE else None
        changes += engine.observe_connectivity(robot_id, state, at, cause)
    return changes


def connectivity_state(message: Message) -> str:
    """What a live message says about the robot's connection.

    A goodbye the robot sent itself on a clean stop (offline with `clean`) is "stopped":
    the lab switched it off, nothing to alert.  Any other live offline is its last will,
    which the broker publishes only after losing the connection, so it is "offline" (a
    lost connection); an old agent's or a legacy robot's goodbye cannot be told from a
    will and counts as lost too, erring on the side of an alert.  Anything else is the
    robot talking: "ok"."""
    status = message.status
    if status is None or status.status != "offline":
        return CONNECTIVITY_OK
    return CONNECTIVITY_STOPPED if status.clean else CONNECTIVITY_OFFLINE


def announce(session: MqttSession, announcements: Sequence[tuple[Alert, str]],
             events: Counter[str]) -> None:
    """Tell consoles about committed changes on tonypi/alerts/<robot_id>."""
    for alert, event in announcements:
        events[event] += 1
        logger.info("alert %s: %s %s/%s of %s (%s)", event, alert.id, alert.alert_type,
                    alert.source, alert.robot_id, alert.severity)
        try:
            topic, payload = encode_announcement(alert, event)
            session.publish(topic, payload, qos=ANNOUNCE_QOS)
        except Exception:  # committed already; consoles reload from the database
            logger.exception("could not announce %s of alert %s", event, alert.id)


def forget_resolved_elsewhere(engine: AlertEngine, session: Session,
                              pending: Sequence[AlertChange]) -> None:
    """An alert resolved by an operator (or the other ingest) is closed in the engine
    too, and its rule held: a condition that still holds raises nothing new until it has
    cleared (or a warning turns critical), so a manual resolve sticks."""
    in_db = {key[:3] for key in AlertStore(session).open_keys()}
    waiting = {(c.robot_id, c.alert_type, c.source) for c in pending}
    for robot_id, alert_type, source, _severity in engine.open_alerts():
        if (robot_id, alert_type, source) not in in_db | waiting:
            logger.info("alert %s/%s of %s resolved elsewhere; held until its condition "
                        "clears", alert_type, source, robot_id)
            engine.hold(robot_id, alert_type, source)
