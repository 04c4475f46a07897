"""Alert announcements on MQTT: `tonypi/alerts/<robot_id>`, one JSON message per change.

    {"v": 1, "event": "raised", "alert": {"id": 7, "robot_id": "tonypi_01", ...}}

The ingest service and AlertService publish them after the change is committed, so a
console that hears one can trust the database to agree; a console that missed some
(disconnected) reloads from the database instead.  Standard library only: the console
parses these without importing SQLAlchemy.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.wire.topics import PREFIX, is_valid_robot_id

ANNOUNCEMENT_VERSION = 1
ALERTS_KIND = "alerts"
ALERTS_SUBSCRIPTION = f"{PREFIX}/{ALERTS_KIND}/+"
EVENTS = ("raised", "escalated", "acknowledged", "resolved")
ANNOUNCEMENT_MAX_BYTES = 64 * 1024  # title 200 chars, message a few lines: far below this
ALERT_FIELDS = ("id", "robot_id", "alert_type", "severity", "source", "title", "message",
                "value", "threshold", "acknowledged", "acknowledged_by", "acknowledged_at",
                "resolved", "resolved_at", "created_at")
_TIME_FIELDS = ("acknowledged_at", "resolved_at", "created_at")


class AnnouncementError(ValueError):
    """A payload on tonypi/alerts/... that is not a valid announcement."""


@dataclass(frozen=True, slots=True)
class AlertAnnouncement:
    """What a console learns from one announcement: the event and the alert's new state."""

    event: str
    id: int
    robot_id: str
    alert_type: str
    severity: str
    source: str | None
    title: str
    message: str
    value: float | None
    threshold: float | None
    acknowledged: bool
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved: bool
    resolved_at: datetime | None
    created_at: datetime | None


def alerts_topic(robot_id: str) -> str:
    if not is_valid_robot_id(robot_id):
        raise ValueError(f"cannot announce an alert of robot {robot_id!r}: not a valid robot id")
    return f"{PREFIX}/{ALERTS_KIND}/{robot_id}"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def alert_to_dict(alert: Any) -> dict[str, Any]:
    """The announced fields of an alert row (any object with the Alert attributes)."""
    result = {name: getattr(alert, name) for name in ALERT_FIELDS}
    result["acknowledged"] = bool(alert.acknowledged)
    result["resolved"] = bool(alert.resolved)
    for name in _TIME_FIELDS:
        result[name] = _iso(result[name])
    return result


def encode_announcement(alert: Any, event: str) -> tuple[str, bytes]:
    """(topic, payload) announcing that `event` happened to `alert`."""
    if event not in EVENTS:
        raise ValueError(f"unknown alert event {event!r}; expected one of {EVENTS}")
    body = {"v": ANNOUNCEMENT_VERSION, "event": event, "alert": alert_to_dict(alert)}
    return alerts_topic(alert.robot_id), json.dumps(body, separators=(",", ":")).encode()


def parse_announcement(topic: str, payload: bytes) -> AlertAnnouncement:
    """Check and decode one announcement; AnnouncementError says what is wrong."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[:2] != [PREFIX, ALERTS_KIND] or not is_valid_robot_id(parts[2]):
        raise AnnouncementError(f"not an alerts topic: {topic[:120]!r}")
    if len(payload) > ANNOUNCEMENT_MAX_BYTES:
        raise AnnouncementError(f"announcement of {len(payload)} bytes is oversized")
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise AnnouncementError(f"announcement is not JSON: {exc}") from None
    if not isinstance(body, dict) or body.get("v") != ANNOUNCEMENT_VERSION:
        raise AnnouncementError(f"unsupported announcement version {_peek(body, 'v')!r}")
    event, alert = body.get("event"), body.get("alert")
    if event not in EVENTS:
        raise AnnouncementError(f"unknown alert event {event!r}")
    if not isinstance(alert, dict):
        raise AnnouncementError("announcement without an alert object")
    if alert.get("robot_id") != parts[2]:
        raise AnnouncementError(f"robot id {alert.get('robot_id')!r} does not match the "
                                f"topic's {parts[2]!r}")
    return AlertAnnouncement(
        event=event,
        id=_field(alert, "id", int),
        robot_id=parts[2],
        alert_type=_field(alert, "alert_type", str),
        severity=_field(alert, "severity", str),
        source=_field(alert, "source", str, optional=True),
        title=_field(alert, "title", str),
        message=_field(alert, "message", str),
        value=_number(alert, "value"),
        threshold=_number(alert, "threshold"),
        acknowledged=_field(alert, "acknowledged", bool),
        acknowledged_by=_field(alert, "acknowledged_by", str, optional=True),
        acknowledged_at=_time(alert, "acknowledged_at"),
        resolved=_field(alert, "resolved", bool),
        resolved_at=_time(alert, "resolved_at"),
        created_at=_time(alert, "created_at"),
    )


def _peek(body: Any, key: str) -> Any:
    return body.get(key) if isinstance(body, dict) else None


def _field(alert: dict, name: str, kind: type, optional: bool = False) -> Any:
    value = alert.get(name)
    if value is None and optional:
        return None
    # bool is an int in Python: an id of `true` must not pass as 1.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise AnnouncementError(f"alert field {name!r} must be {kind.__name__}, got {value!r}")
    return value


def _number(alert: dict, name: str) -> float | None:
    value = alert.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AnnouncementError(f"alert field {name!r} must be a number, got {value!r}")
    return float(value)


def _time(alert: dict, name: str) -> datetime | None:
    value = alert.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise AnnouncementError(f"alert field {name!r} must be an ISO time with offset, "
                                f"got {value!r}")
    return moment.astimezone(UTC)
