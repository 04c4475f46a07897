"""The ingest's health report: what a console and an agent read from it."""

import json
from datetime import UTC, datetime

import pytest

from services.wire.ingest_health import (
    HealthError,
    IngestHealth,
    decode_health,
    encode_health,
    health_topic,
)

NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)


def test_round_trip():
    health = IngestHealth(instance="ingest-a", state="online", ts=NOW, announce=True,
                          counters={"received": 5, "stored": 4}, queue_depth=3,
                          store_lag_s=0.25, last_store_at=NOW)
    assert decode_health(health_topic("ingest-a"), encode_health(health)) == health


def payload(**changes) -> bytes:
    body = {"v": 1, "instance": "ingest-a", "state": "online", "ts": NOW.isoformat(),
            "counters": {"stored": 1}, "queue_depth": 0, "store_lag_s": None,
            "last_store_at": None, **changes}
    return json.dumps(body).encode()


@pytest.mark.parametrize("topic, body", [
    ("tonypi/ingest/ingest-b", payload()),  # names another instance
    ("tonypi/ingest/a/b", payload()),
    ("tonypi/status/ingest-a", payload()),
    ("tonypi/ingest/ingest-a", payload(v=True)),
    ("tonypi/ingest/ingest-a", payload(state="meh")),
    ("tonypi/ingest/ingest-a", payload(ts="2026-12-06T04:00:00")),  # no offset
    ("tonypi/ingest/ingest-a", payload(ts="0001-01-01T00:00:00+14:00")),
    ("tonypi/ingest/ingest-a", payload(counters={"stored": -1})),
    ("tonypi/ingest/ingest-a", payload(counters={"stored": 1.5})),
    ("tonypi/ingest/ingest-a", payload(queue_depth=True)),
    ("tonypi/ingest/ingest-a", payload(store_lag_s="slow")),
    ("tonypi/ingest/ingest-a", payload(store_lag_s=-1)),
    ("tonypi/ingest/ingest-a", b"\xff"),
    ("tonypi/ingest/ingest-a", b"[]"),
])
def test_what_is_not_a_health_report_is_refused(topic, body):
    with pytest.raises(HealthError):
        decode_health(topic, body)


def test_an_instance_name_must_be_a_topic_level():
    with pytest.raises(ValueError):
        health_topic("a/b")
