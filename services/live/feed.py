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
# While the broker is away, ask it once in a while why (refused login, DNS, timeout):
# paho only says "Unspecified error".
DIAGNOSE_EVERY_S = 15.0

# (ok, message) of one connection attempt made the way the session makes them.
Diagnose = Callable[[], tuple[bool, str]]


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
    broker: str = ""  # host:port
    reason: str | None = None  # why not connected, in words, when known
    refused: bool = False  # the broker answered and said no (credentials, not authorised)
    down_since: float | None = None  # epoch s the connection was lost (or first tried)
    silent_for_s: float | None = None  # connected: seconds without any robot message


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
                 clock: Callable[[], float] = time.time,
                 diagnose: Diagnose | None = None) -> None:
        self._session = session
        self._fleet = fleet
        self._clock = clock
        self._diagnose = diagnose
        self._link = _LinkWatch(clock)
        session.add_connection_listener(self._link.on_connection_changed)
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
        self._link.message_seen(now)
        with self._lock:
            self._messages_total += 1
            self._samples_total += samples
            self._values_total += values
            self._rates.add(now, samples, values)

    def stats(self) -> FeedStats:
        state, next_retry_at = self._session.connection_state()
        now = self._clock()
        newest = self._fleet.newest_sample_time()
        if state not in ("connected", "stopped") and self._diagnose is not None:
            self._link.maybe_diagnose(self._diagnose, now)
        link = self._link.view(state, now)
        with self._lock:
            messages_per_s, samples_per_s, values_per_s = self._rates.rates(now)
            return FeedStats(
                state=state, next_retry_at=next_retry_at,
                messages_total=self._messages_total, samples_total=self._samples_total,
                values_total=self._values_total, rejected_total=sum(self._rejected.values()),
                messages_per_s=messages_per_s, samples_per_s=samples_per_s,
                values_per_s=values_per_s,
                newest_sample_age_s=None if newest is None else max(0.0, now - newest),
                rejected_by_reason=dict(self._rejected),
                broker=f"{self._session.host}:{self._session.port}", **link)


class _LinkWatch:
    """What the session's state alone does not say: since when it is down and why, and
    how long a connected session has been silent.  Written on paho's thread (listener,
    messages) and a diagnosis thread, read on the GUI thread."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        started = clock()
        self._connected_at: float | None = None
        self._down_since: float | None = started
        self._last_message_at: float | None = None
        self._reason: str | None = None
        self._diagnosis: tuple[bool, str] | None = None
        self._diagnosed_at = -math.inf
        self._diagnosing = False

    def on_connection_changed(self, connected: bool, reason: str) -> None:
        now = self._clock()
        with self._lock:
            if connected:
                self._connected_at, self._down_since = now, None
                self._reason, self._diagnosis = None, None
                self._diagnosed_at = -math.inf
            else:
                if self._down_since is None:
                    self._down_since = now
                    self._diagnosed_at = -math.inf  # a new outage: find out why at once
                # paho's disconnect says "Unspecified error" for a refused login and a
                # cut alike: keep the session's earlier, specific word (its CONNACK).
                if reason not in ("", "Unspecified error"):
                    self._reason = reason

    def message_seen(self, now: float) -> None:
        self._last_message_at = now  # one float; a torn read is impossible

    def maybe_diagnose(self, diagnose: Diagnose, now: float) -> None:
        with self._lock:
            if self._diagnosing or now - self._diagnosed_at < DIAGNOSE_EVERY_S:
                return
            self._diagnosing, self._diagnosed_at = True, now

        def run() -> None:
            try:
                result = diagnose()
            except Exception as exc:  # noqa: BLE001 - a diagnosis must never kill the feed
                result = (False, f"{type(exc).__name__}: {exc}")
            with self._lock:
                self._diagnosing = False
                # Connected meanwhile: the answer is about an outage that is over.
                if self._down_since is not None:
                    self._diagnosis = None if result[0] else result

        threading.Thread(target=run, name="broker-diagnosis", daemon=True).start()

    def view(self, state: str, now: float) -> dict:
        with self._lock:
            if state == "connected":
                since = max(self._last_message_at or 0.0, self._connected_at or now)
                return {"silent_for_s": max(0.0, now - since)}
            diagnosis = self._diagnosis
            reason = diagnosis[1] if diagnosis else self._reason
            return {"reason": reason, "refused": reason is not None and is_refusal(reason),
                    "down_since": self._down_since}


def is_refusal(message: str) -> bool:
    """Whether a connection check's message says the broker answered and said no."""
    return message.startswith("not authorised") or "refused the connection (CONNACK" in message


# -- what the operator is told --------------------------------------------------------

SILENT_WARN_S = 10.0  # robots report every second or so; 10 s of nothing is news
CONNECTING_QUIET_S = 5.0  # a first connection normally takes milliseconds


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    level: str  # ok | warning | error
    line: str  # for the status bar
    banner: str | None  # for the banner over the window; None: nothing to shout about


def broker_status(stats: FeedStats, now: float) -> BrokerStatus:
    where = stats.broker or "the broker"
    if stats.state == "connected":
        silent = stats.silent_for_s
        if silent is not None and silent >= SILENT_WARN_S:
            return BrokerStatus("warning", f"Broker: connected, no data for {silent:.0f} s",
                                None)
        return BrokerStatus("ok", "Broker: connected", None)
    if stats.state == "stopped":
        return BrokerStatus("ok", "Broker: stopped", None)
    retry = ""
    if stats.next_retry_at is not None:
        retry = f"next try in {max(stats.next_retry_at - now, 0):.0f} s"
    down_for = "" if stats.down_since is None else \
        f" for {_duration(max(now - stats.down_since, 0))}"
    line = f"Broker: {stats.state}" + (f", {retry}" if retry else "")
    if stats.state == "connecting" and (stats.down_since is None or
                                        now - stats.down_since < CONNECTING_QUIET_S):
        return BrokerStatus("warning", line, None)
    if stats.refused:
        banner = (f"The MQTT broker at {where} refuses the console: {stats.reason}. "
                  "Fix the user name or password in File > Connection settings"
                  + (f"; {retry}." if retry else "."))
        return BrokerStatus("error", "Broker: login refused" + (f", {retry}" if retry else ""),
                            banner)
    reason = stats.reason or "connection lost"
    banner = (f"No connection to the MQTT broker at {where}{down_for}: {reason}. "
              "Live data is not updating" + (f"; reconnecting, {retry}." if retry else "."))
    return BrokerStatus("error", line, banner)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
