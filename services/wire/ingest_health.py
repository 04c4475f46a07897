"""The ingest's own health on `tonypi/ingest/<instance>`: is anything storing the data?

Each ingest instance publishes, retained, what it has received, stored, rejected and
dead-lettered, its queue depth, how far storage lags behind arrival and when it last
stored; its last will says "offline".  A console shows the pipeline from it (nothing is
stored, and no alert raised, while no ingest is alive); an agent re-sends what is
unconfirmed when an ingest announces it (re)connected, since a crashed broker may have
lost what it queued for the ingest before then.

    {"v": 1, "instance": "tonypi-ingest", "state": "online", "announce": false,
     "ts": "...", "counters": {"received": 10, ...}, "queue_depth": 0,
     "store_lag_s": 0.2, "last_store_at": "..."}

Standard library only (the agent imports it on a Pi).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.wire.topics import FORMAT_VERSION, PREFIX, is_valid_robot_id

HEALTH_KIND = "ingest"
HEALTH_FILTER = f"{PREFIX}/{HEALTH_KIND}/+"
STATES = ("online", "offline")
MAX_HEALTH_BYTES = 16 * 1024
MAX_COUNTERS = 64


class HealthError(ValueError):
    """A payload on an ingest health topic that is not a health report."""


@dataclass(frozen=True, slots=True)
class IngestHealth:
    instance: str
    state: str  # online | offline
    ts: datetime
    announce: bool = False  # true once per (re)connection, never retained
    counters: Mapping[str, int] = field(default_factory=dict)
    queue_depth: int = 0
    store_lag_s: float | None = None
    last_store_at: datetime | None = None


def health_topic(instance: str) -> str:
    if not is_valid_robot_id(instance):
        raise ValueError(f"ingest instance name {instance!r} cannot be a topic level")
    return f"{PREFIX}/{HEALTH_KIND}/{instance}"


def encode_health(health: IngestHealth) -> bytes:
    body = {
        "v": FORMAT_VERSION, "instance": health.instance, "state": health.state,
        "announce": health.announce, "ts": health.ts.astimezone(UTC).isoformat(),
        "counters": dict(health.counters), "queue_depth": health.queue_depth,
        "store_lag_s": health.store_lag_s,
        "last_store_at": (health.last_store_at.astimezone(UTC).isoformat()
                          if health.last_store_at else None),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _time(value: object, name: str) -> datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise HealthError(f"{name} must be an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("no offset")
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise HealthError(f"{name} is not a UTC time: {exc}") from None


def decode_health(topic: str, payload: bytes) -> IngestHealth:
    levels = topic.split("/")
    if len(levels) != 3 or levels[:2] != [PREFIX, HEALTH_KIND] or not is_valid_robot_id(
            levels[2]):
        raise HealthError(f"not an ingest health topic: {topic[:120]!r}")
    if len(payload) > MAX_HEALTH_BYTES:
        raise HealthError(f"health report of {len(payload)} bytes")
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError):
        raise HealthError("health report is not JSON") from None
    if not isinstance(body, dict):
        raise HealthError("health report is not an object")
    if type(body.get("v")) is not int or body["v"] != FORMAT_VERSION:
        raise HealthError("unsupported health report version")
    if body.get("instance") != levels[2] or body.get("state") not in STATES:
        raise HealthError("health report names another instance or an unknown state")
    counters = body.get("counters") or {}
    if not isinstance(counters, dict) or len(counters) > MAX_COUNTERS or not all(
            isinstance(k, str) and len(k) <= 64 and type(v) is int and v >= 0
            for k, v in counters.items()):
        raise HealthError("counters must be names with non-negative integers")
    queue_depth = body.get("queue_depth", 0)
    lag = body.get("store_lag_s")
    if type(queue_depth) is not int or queue_depth < 0:
        raise HealthError("queue_depth must be a non-negative integer")
    if lag is not None and (isinstance(lag, bool) or not isinstance(lag, int | float)
                            or not math.isfinite(lag) or lag < 0):
        raise HealthError("store_lag_s must be a non-negative number")
    last = body.get("last_store_at")
    return IngestHealth(
        instance=levels[2], state=body["state"], ts=_time(body.get("ts"), "ts"),
        announce=body.get("announce") is True, counters=counters, queue_depth=queue_depth,
        store_lag_s=None if lag is None else float(lag),
        last_store_at=None if last is None else _time(last, "last_store_at"))
