"""Announcement payloads: what the ingest and AlertService publish, and what consoles parse."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.alerts.announce import (
    ALERTS_SUBSCRIPTION,
    AnnouncementError,
    alert_to_dict,
    encode_announcement,
    parse_announcement,
)
from services.records.models import Alert

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def make_alert(**overrides) -> Alert:
    values = dict(id=7, robot_id="tonypi_01", alert_type="servo", severity="critical",
                  source="servo_3", title="Servo servo_3 temperature critical",
                  message="80.0 °C for 10 s", value=80.0, threshold=75.0, acknowledged=True,
                  acknowledged_by="alice", acknowledged_at=T0 + timedelta(minutes=1),
                  resolved=False, resolved_at=None, created_at=T0, details={"x": 1})
    values.update(overrides)
    return Alert(**values)


def test_round_trip():
    topic, payload = encode_announcement(make_alert(), "acknowledged")
    assert topic == "tonypi/alerts/tonypi_01"
    body = json.loads(payload)
    assert body["v"] == 1 and body["event"] == "acknowledged"
    assert body["alert"]["acknowledged_at"] == "2026-11-22T12:01:00+00:00"
    assert "details" not in body["alert"]  # only the announced fields
    parsed = parse_announcement(topic, payload)
    assert parsed.event == "acknowledged"
    assert (parsed.id, parsed.robot_id, parsed.severity, parsed.value) == (
        7, "tonypi_01", "critical", 80.0)
    assert (parsed.acknowledged, parsed.acknowledged_by) == (True, "alice")
    assert parsed.acknowledged_at == T0 + timedelta(minutes=1)
    assert parsed.resolved is False and parsed.resolved_at is None
    assert parsed.created_at == T0


def test_times_are_utc_and_nulls_survive():
    local = timezone(timedelta(hours=2))
    alert = make_alert(created_at=datetime(2026, 11, 22, 14, 0, tzinfo=local),
                       acknowledged=None, acknowledged_by=None, acknowledged_at=None,
                       value=None, threshold=None, source=None)
    data = alert_to_dict(alert)
    assert data["created_at"] == "2026-11-22T12:00:00+00:00"
    assert data["acknowledged"] is False  # a NULL column is "not acknowledged"
    parsed = parse_announcement(*encode_announcement(alert, "raised"))
    assert parsed.created_at.tzinfo is UTC
    assert (parsed.value, parsed.threshold, parsed.source) == (None, None, None)


def test_encode_refuses_unknown_events_and_bad_robot_ids():
    with pytest.raises(ValueError):
        encode_announcement(make_alert(), "exploded")
    with pytest.raises(ValueError):
        encode_announcement(make_alert(robot_id="a/b"), "raised")
    with pytest.raises(ValueError):
        encode_announcement(make_alert(robot_id=None), "raised")


def test_subscription_matches_the_topic():
    assert ALERTS_SUBSCRIPTION == "tonypi/alerts/+"


def _payload(**changes) -> bytes:
    body = json.loads(encode_announcement(make_alert(), "raised")[1])
    alert_changes = changes.pop("alert", {})
    body.update(changes)
    body["alert"].update(alert_changes)
    return json.dumps(body).encode()


@pytest.mark.parametrize(("topic", "payload", "reason"), [
    ("tonypi/status/tonypi_01", _payload(), "not an alerts topic"),
    ("tonypi/alerts/+", _payload(), "not an alerts topic"),
    ("tonypi/alerts/tonypi_01", b"{not json", "not JSON"),
    ("tonypi/alerts/tonypi_01", b"\xff\xfe", "not JSON"),
    ("tonypi/alerts/tonypi_01", b"[1]", "version"),
    ("tonypi/alerts/tonypi_01", _payload(v=2), "version"),
    ("tonypi/alerts/tonypi_01", _payload(event="exploded"), "unknown alert event"),
    ("tonypi/alerts/tonypi_01", _payload(alert={"robot_id": "other"}), "does not match"),
    ("tonypi/alerts/tonypi_01", _payload(alert={"id": True}), "'id'"),
    ("tonypi/alerts/tonypi_01", _payload(alert={"id": "7"}), "'id'"),
    ("tonypi/alerts/tonypi_01", _payload(alert={"value": "hot"}), "'value'"),
    ("tonypi/alerts/tonypi_01", _payload(alert={"acknowledged": 1}), "'acknowledged'"),
    ("tonypi/alerts/tonypi_01", _payload(alert={"created_at": "2026-11-22T12:00:00"}),
     "with offset"),
    ("tonypi/alerts/tonypi_01", _payload(alert={"resolved_at": "yesterday"}), "with offset"),
    ("tonypi/alerts/tonypi_01", b" " * 70_000, "oversized"),
])
def test_parse_refuses_bad_announcements(topic, payload, reason):
    with pytest.raises(AnnouncementError, match=reason):
        parse_announcement(topic, payload)


def test_parse_refuses_nan_values():
    payload = _payload().replace(b'"value": 80.0', b'"value": NaN')
    assert b"NaN" in payload
    with pytest.raises(AnnouncementError, match="'value'"):
        parse_announcement("tonypi/alerts/tonypi_01", payload)
