"""Feeds the fleet state from MQTT: subscribe, parse, apply, count.

Runs on paho's network thread through MqttSession; nothing here blocks or raises into
paho.  The session itself (connect, reconnect, credentials) belongs to the application,
which may share it; LiveFeed only adds and removes its own subscriptions.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from services.ingest.stats import RateLimitedLog
from services.live.fleet import FleetState
from services.mqtt_session import MqttSession, ReceivedMessage
from services.wire.errors import ParseError
from services.wire.parse import parse_message
from services.wire.topics import monitoring_subscriptions

logger = logging.getLogger(__name__)

RATE_WINDOW_S = 5  # messages/s and samples/s are averaged over this many seconds
LIVE_QOS = 0  # a live view wants the newest data, not a redelivery of what it missed


@dataclass(frozen=True, slots=True)
class FeedStats:
    state: str  # connected, connecting, reconnecting, stopped
    next_retry_at: float | None  # epoch s of the next connection attempt, when reconnecting
    messages_total: int
    samples_total: int  # Sample objects (one per measurement, servo or sensor per message)
    values_total: int  # numeric fields appended to ring buffers
    rejected_total: int
    messages_per_s: float
    samples_per_s: float
    values_per_s: float
    newest_sample_age_s: float | None  # data age of the freshest sample, None before any
    rejected_by_reason: Mapping[str, int] = field(default_factory=dict)


class _RateWindow:
    """Per-second buckets of (messages, samples, values) over the last few seconds."""

    def __init__(self, started_at: float) -> None:
        self._buckets: deque[list[int]] = deque(maxlen=RATE_WINDOW_S + 1)  # [second, m, s, v]
        self._started_at = started_at

    def add(self, now: float, samples: int, values: int) -> None:
        second = int(now)
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append([second, 0, 0, 0])
        bucket = self._buckets[-1]
        bucket[1] += 1
        bucket[2] += samples
        bucket[3] += values

    def rates(self, now: float) -> tuple[float, float, float]:
        window_start = math.floor(now) - (RATE_WINDOW_S - 1)
        elapsed = now - max(window_start, self._started_at)
        if elapsed <= 0:
            return 0.0, 0.0, 0.0
        totals = [0, 0, 0]
        for second, messages, samples, values in self._buckets:
            if window_start <= second <= now:
                totals[0] += messages
                totals[1] += samples
                totals[2] += values
        return totals[0] / elapsed, totals[1] / elapsed, totals[2] / elapsed


class LiveFeed:
    def __init__(self, session: MqttSession, fleet: FleetState,
                 clock: Callable[[], float] = time.time) -> None:
        self._session = session
        self._fleet = fleet
        self._clock = clock
        self._lock = threading.Lock()  # counters: written on paho's thread, read by the GUI
        self._unsubscribe: list[Callable[[], None]] = []
        self._messages_total = 0
        self._samples_total = 0
        self._values_total = 0
        self._rejected: Counter[str] = Counter()
        self._rates = _RateWindow(clock())
        self._complaints = RateLimitedLog(logger)

    def start(self) -> None:
        """Subscribe to every monitoring topic (the session need not be connected yet:
        it subscribes again on every connect)."""
        if self._unsubscribe:
            return
        self._rates = _RateWindow(self._clock())
        for topic_filter in monitoring_subscriptions():
            self._unsubscribe.append(
                self._session.subscribe(topic_filter, self._on_message_received, LIVE_QOS))
        logger.info("live feed subscribed to %d topic filter(s)", len(self._unsubscribe))

    def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    def _on_message_received(self, received: ReceivedMessage) -> None:
        try:
            message = parse_message(received.topic, received.payload, received.received_at)
        except ParseError as exc:
            with self._lock:
                self._rejected[str(exc.reason)] += 1
            self._complaints.warning(str(exc.reason), "live feed rejected a message on %r: %s",
                                     exc.topic[:120], str(exc)[:200])
            return
        # Retained status messages register robots seen before the console started.
        self._fleet.apply(message, retained=received.retain)
        samples = len(message.samples)
        values = sum(len(sample.fields) for sample in message.samples)
        now = self._clock()
        with self._lock:
            self._messages_total += 1
            self._samples_total += samples
            self._values_total += values
            self._rates.add(now, samples, values)

    def stats(self) -> FeedStats:
        state, next_retry_at = self._session.connection_state()
        now = self._clock()
        newest = self._fleet.newest_sample_time()
        with self._lock:
            messages_per_s, samples_per_s, values_per_s = self._rates.rates(now)
            return FeedStats(
                state=state, next_retry_at=next_retry_at,
                messages_total=self._messages_total, samples_total=self._samples_total,
                values_total=self._values_total, rejected_total=sum(self._rejected.values()),
                messages_per_s=messages_per_s, samples_per_s=samples_per_s,
                values_per_s=values_per_s,
                newest_sample_age_s=None if newest is None else max(0.0, now - newest),
                rejected_by_reason=dict(self._rejected))
