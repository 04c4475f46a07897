"""The pipeline's own health as the console sees it: is any ingest storing the data?

Each ingest instance publishes a retained report on `tonypi/ingest/<instance>` every
5 s (services.wire.ingest_health); its last will says offline.  PipelineMonitor keeps the
newest report per instance: `record` runs on paho's network thread and only stores,
`status(now)` runs on the GUI timer and works out up/down, lag and rates.  No Qt here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.ingest.stats import RateLimitedLog
from services.live.pipeline_status import InstanceStatus, PipelineStatus
from services.mqtt_session import MqttSession, ReceivedMessage
from services.wire.ingest_health import HEALTH_FILTER, HealthError, IngestHealth, decode_health

logger = logging.getLogger(__name__)

# Reports come every 5 s: three missed ones and the instance counts as gone.
DOWN_AFTER_S = 15.0
# How long a console waits for a first report before saying that no ingest runs.
GRACE_S = 15.0
HEALTH_QOS = 0  # retained and repeated every 5 s: the newest is all that matters


@dataclass(slots=True)
class _Entry:
    health: IngestHealth
    reported_at: float  # epoch s
    rejected_per_min: float = 0.0
    dead_lettered_per_min: float = 0.0


def _per_min(new: IngestHealth, old: IngestHealth | None, name: str) -> float:
    if old is None:
        return 0.0
    seconds = (new.ts - old.ts).total_seconds()
    delta = new.counters.get(name, 0) - old.counters.get(name, 0)
    # A restarted instance counts from zero again: no negative rates.
    if seconds <= 0 or delta <= 0:
        return 0.0
    return delta * 60.0 / seconds


class PipelineMonitor:
    def __init__(self, clock: Callable[[], float] = time.time,
                 down_after_s: float = DOWN_AFTER_S, grace_s: float = GRACE_S) -> None:
        self._clock = clock
        self._down_after_s = down_after_s
        self._grace_s = grace_s
        self._lock = threading.Lock()  # reports: written on paho's thread, read by the GUI
        self._entries: dict[str, _Entry] = {}
        self._listening_since: float | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._complaints = RateLimitedLog(logger)

    # -- feeding ------------------------------------------------------------------------
    def attach(self, session: MqttSession) -> None:
        """Listen to every ingest's health on the console's session (it subscribes again
        on each connect, and the retained reports arrive at once)."""
        if self._unsubscribe is None:
            self._unsubscribe = session.subscribe(HEALTH_FILTER, self._on_message_received,
                                                  HEALTH_QOS)
            self.restart_grace()

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def restart_grace(self, now: float | None = None) -> None:
        """Start (again) the wait for a first report, e.g. after the broker came back."""
        with self._lock:
            self._listening_since = self._clock() if now is None else now

    def _on_message_received(self, received: ReceivedMessage) -> None:
        try:
            health = decode_health(received.topic, received.payload)
        except HealthError as exc:
            self._complaints.warning("bad_health", "ignored a bad ingest health report on "
                                     "%r: %s", received.topic[:120], exc)
            return
        if health.announce:
            return  # the (re)connect announcement is for agents; a report follows it
        received_at = received.received_at.timestamp()
        # A retained report may be old news from an instance long gone: date it by its
        # own time.  A live one by arrival, which no clock skew can make look stale.
        reported_at = min(received_at, health.ts.timestamp()) if received.retain \
            else received_at
        self.record(health, reported_at)

    def record(self, health: IngestHealth, reported_at: float) -> None:
        with self._lock:
            old = self._entries.get(health.instance)
            previous = old.health if old is not None else None
            self._entries[health.instance] = _Entry(
                health, reported_at,
                _per_min(health, previous, "rejected") if previous else 0.0,
                _per_min(health, previous, "dead_lettered") if previous else 0.0)

    # -- reading (GUI thread) --------------------------------------------------------------
    def status(self, now: float | None = None) -> PipelineStatus:
        now = self._clock() if now is None else now
        with self._lock:
            entries = list(self._entries.values())
            since = self._listening_since
        instances = []
        for entry in sorted(entries, key=lambda item: item.health.instance):
            health = entry.health
            age = max(0.0, now - entry.reported_at)
            up = health.state == "online" and age <= self._down_after_s
            instances.append(InstanceStatus(
                instance=health.instance, up=up, state=health.state, report_age_s=age,
                counters=dict(health.counters), queue_depth=health.queue_depth,
                store_lag_s=health.store_lag_s, last_store_at=health.last_store_at,
                rejected_per_min=entry.rejected_per_min if up else 0.0,
                dead_lettered_per_min=entry.dead_lettered_per_min if up else 0.0))
        waiting = not instances and (since is None or now - since < self._grace_s)
        return PipelineStatus(tuple(instances), waiting)
