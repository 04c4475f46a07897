"""The ingest service: every robot message stored once, acknowledged only after storing.

paho's thread only queues what arrives.  One worker thread takes batches (up to
`batch_max` messages or `flush_interval_s`), parses them, writes the samples to the
history store and the records in one transaction, and only then sends the MQTT
acknowledgements.  If a store is down the batch is retried with backoff and nothing is
acknowledged, so the broker keeps (and after a crash redelivers) everything.  If a store
refuses a message (services.ingest.failures), the batch is halved until that message is
alone; it becomes a dead letter (services.records.dead_letters) and the rest is stored.

After each batch the robots are told which of their seqs are safely handled, on
`tonypi/receipts/<robot_id>` (services.wire.receipts): a broker's PUBACK is not proof of
storage, so the agent keeps each message until its receipt comes.

With an AlertEngine, the worker also feeds it every stored sample, robot status and
silence; the alert changes it returns are written in the same records transaction and
announced on tonypi/alerts/<robot_id> once committed.  The engine is only ever used from
the worker thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from services.alerts.store import AlertStore
from services.history.base import HistoryStore
from services.ingest import alerting, receipts
from services.ingest.confirmations import Confirmations, claimed_seq
from services.ingest.failures import describe, is_refused
from services.ingest.health import HEALTH_INTERVAL_S, HealthReporter
from services.ingest.records_writer import CATEGORY_INGEST, apply_alert_changes, apply_records
from services.ingest.stats import Counters, IngestStats, RateLimitedLog
from services.mqtt_session import MqttSession, ReceivedMessage
from services.records import dead_letters
from services.records.db import Database
from services.records.errors import RecordsUnavailable
from services.records.repositories import LogRepository, RobotRepository
from services.settings import IngestSettings
from services.wire.model import Message
from services.wire.parse import ParseError, parse_message
from services.wire.topics import monitoring_subscriptions

if TYPE_CHECKING:
    from services.alerts.engine import AlertChange, AlertEngine
    from services.records.models import Alert

logger = logging.getLogger(__name__)

RECENT_KEYS_MAX = 200_000
RETRY_MIN_DELAY_S = 0.5
RETRY_MAX_DELAY_S = 10.0
STALE_CHECK_INTERVAL_S = 5.0
RECEIPT_RETENTION = timedelta(days=7)
RECEIPT_PRUNE_INTERVAL_S = 3600.0


class _Stopping(Exception):
    """The service is stopping mid-retry: leave the batch unacknowledged."""


class _Refused(Exception):
    """A store refused the data of an action; `cause` says why."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class IngestService:
    def __init__(self, session: MqttSession, store: HistoryStore, db: Database,
                 settings: IngestSettings | None = None, *,
                 shared_group: str | None = None, alerts: AlertEngine | None = None,
                 instance: str = "tonypi-ingest") -> None:
        self._session = session
        self._store = store
        self._db = db
        self._settings = settings or IngestSettings()
        self._shared_group = shared_group
        self._queue: queue.SimpleQueue[ReceivedMessage] = queue.SimpleQueue()
        self._counters = Counters()
        self._complaints = RateLimitedLog(logger)
        self._recent: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._events: deque[tuple[str, str]] = deque(maxlen=1000)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="ingest-worker", daemon=True)
        self._unsubscribe: list[Callable[[], None]] = []
        self._next_stale_check = 0.0
        self._next_stats = time.monotonic() + self._settings.stats_interval_s
        self._next_prune = 0.0
        self._alerts = alerts
        # Changes the engine made that are not committed yet: the engine has moved on, so
        # they must be written by a later transaction, never recomputed.
        self._pending_alerts: list[AlertChange] = []
        self._alert_events: Counter[str] = Counter()
        self._health = HealthReporter(session, instance)
        self._next_health = 0.0

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        for topic_filter in monitoring_subscriptions():
            if self._shared_group:
                topic_filter = f"$share/{self._shared_group}/{topic_filter}"
            self._unsubscribe.append(self._session.subscribe(topic_filter, self._on_message, 1))
        self._session.add_connection_listener(self._on_connection_changed)
        self._events.append(("INFO", "ingest service started"))
        self._worker.start()
        self._session.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._worker.join(timeout_s)
        # A clean disconnect discards the last will: say "offline" ourselves.
        self._health.publish(self.stats(), self._queue.qsize(), state="offline")
        self._session.stop()
        self._log_stats()

    def stats(self) -> IngestStats:
        return self._counters.snapshot()

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        return dict(self._counters.rejected_by_reason)

    @property
    def notes_by_reason(self) -> dict[str, int]:
        """Messages stored with a repair (a legacy field dropped...), by reason."""
        return dict(self._counters.notes_by_reason)

    @property
    def alert_events(self) -> dict[str, int]:
        """Alert changes this instance committed (and announced), by event."""
        return dict(self._alert_events)

    # -- paho thread -----------------------------------------------------------------
    def _on_message(self, message: ReceivedMessage) -> None:
        self._counters.add("received")
        if message.dup:
            self._counters.add("redelivered")
        self._queue.put(message)

    def _on_connection_changed(self, connected: bool, reason: str) -> None:
        if connected:
            self._events.append(("INFO", "connected to the MQTT broker"))
            # Agents re-send what is unconfirmed: the broker may have crashed and lost
            # what it queued for us while we were away.
            self._health.publish(self.stats(), self._queue.qsize(), announce=True)
            self._health.publish(self.stats(), self._queue.qsize())
        else:
            self._events.append(("WARNING", f"lost the MQTT broker: {reason}"))

    # -- worker thread ---------------------------------------------------------------
    def _run(self) -> None:
        if self._alerts is not None:
            try:
                self._retry("records", "records_failures", self._resume_alerts)
            except _Stopping:
                return
            except _Refused as refusal:  # the engine starts empty; rules re-raise
                logger.error("could not read open alerts: %s", describe(refusal.cause))
        while not self._stop.is_set():
            batch = self._take_batch()
            try:
                if batch:
                    self._handle(batch)
                self._housekeeping()
            except _Stopping:
                break
            except Exception:
                logger.exception("ingest housekeeping failed")

    def _handle(self, batch: list[ReceivedMessage]) -> None:
        """Parse, store (isolating what a store refuses), confirm to the robots, ack."""
        confirmations = Confirmations()
        fresh = self._parse(batch, confirmations)
        if fresh:
            self._pending_alerts += self._observe([m for _, m in fresh],
                                                  [r.retain for r, _ in fresh])
            self._store_or_isolate(fresh, confirmations)
        if self._settings.receipts:
            self._counters.add("confirmed", confirmations.publish(self._session))
        for received in batch:
            self._session.ack(received)

    def _take_batch(self) -> list[ReceivedMessage]:
        try:
            first = self._queue.get(timeout=self._settings.flush_interval_s)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self._settings.flush_interval_s
        while len(batch) < self._settings.batch_max:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self._queue.get(timeout=max(remaining, 0)) if remaining > 0
                             else self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _parse(self, batch: list[ReceivedMessage], confirmations: Confirmations
               ) -> list[tuple[ReceivedMessage, Message]]:
        fresh: list[tuple[ReceivedMessage, Message]] = []
        batch_keys: set[tuple[str, int]] = set()
        for received in batch:
            try:
                message = parse_message(received.topic, received.payload, received.received_at)
            except ParseError as exc:
                self._counters.reject(exc.reason)
                self._complaints.warning(str(exc.reason), "rejected message on %r: %s",
                                         received.topic[:120], exc)
                confirmations.add(claimed_seq(received.topic, received.payload))
                continue
            for note in message.notes:
                self._counters.note(note)
                self._complaints.warning(f"note {note}", "accepted a message on %r with "
                                         "a repair: %s", received.topic[:120], note)
            key = (message.robot_id, message.seq)
            if message.seq is not None and (key in self._recent or key in batch_keys):
                self._counters.add("duplicates")
                confirmations.add_message(message)
                continue
            if message.seq is not None:
                batch_keys.add(key)
            fresh.append((received, message))
        return fresh

    def _store_or_isolate(self, items: list[tuple[ReceivedMessage, Message]],
                          confirmations: Confirmations) -> None:
        """Store the items; if a store refuses them, halve until the refused message is
        alone and dead-letter it, so one poison message costs the others a few extra
        transactions (log2 of the batch), not their place in the stores."""
        try:
            self._store_messages([message for _, message in items])
        except _Refused as refusal:
            if len(items) == 1:
                self._dead_letter(*items[0], refusal.cause)
                confirmations.add_message(items[0][1])
                return
            middle = len(items) // 2
            self._store_or_isolate(items[:middle], confirmations)
            self._store_or_isolate(items[middle:], confirmations)
            return
        for _, message in items:
            confirmations.add_message(message)

    def _store_messages(self, fresh: list[Message]) -> None:
        samples = [sample for message in fresh for sample in message.samples]
        if samples:
            self._retry("history store", "store_failures", lambda: self._store.write(samples))
        now = datetime.now(UTC)
        registered, announcements = self._retry(
            "records", "records_failures", lambda: self._write_records(fresh, now))
        self._announce(announcements)
        for message in fresh:
            if message.seq is not None:
                self._recent[(message.robot_id, message.seq)] = None
        while len(self._recent) > RECENT_KEYS_MAX:
            self._recent.popitem(last=False)
        self._health.stored(min(m.received_at for m in fresh), datetime.now(UTC))
        self._counters.add("stored", len(fresh))
        self._counters.add("samples_written", len(samples))
        self._counters.add("robots_registered", len(registered))
        for robot_id in registered:
            logger.info("registered robot %s", robot_id)

    def _dead_letter(self, received: ReceivedMessage, message: Message,
                     cause: BaseException) -> None:
        error = describe(cause)
        logger.error("store refused a message of %s on %r, kept as a dead letter: %s",
                     message.robot_id, received.topic[:120], error)
        self._events.append(("ERROR", f"dead letter from {message.robot_id} on "
                                      f"{received.topic[:120]!r}: {error[:300]}"))
        now = datetime.now(UTC)

        def write() -> None:
            with self._db.session() as session:
                dead_letters.record(session, received.topic, received.payload, error,
                                    message.robot_id, now)
        try:
            self._retry("records", "records_failures", write)
        except _Refused as refusal:  # cannot happen with bytes and clean text; never stall
            logger.error("could not even dead-letter a message on %r: %s",
                         received.topic[:120], describe(refusal.cause))
            self._counters.reject("unstorable")
            return
        self._counters.add("dead_lettered")

    def _write_records(self, messages: list[Message], now: datetime
                       ) -> tuple[list[str], list[tuple[Alert, str]]]:
        with self._db.session() as session:
            registered = apply_records(session, messages, now)
            announcements = apply_alert_changes(session, self._pending_alerts)
        self._pending_alerts = []
        return registered, announcements

    # -- alerts (worker thread) -----------------------------------------------------
    def _resume_alerts(self) -> None:
        with self._db.session() as session:
            self._alerts.resume(AlertStore(session).open_keys())

    def _observe(self, messages: list[Message], retained: list[bool]) -> list[AlertChange]:
        """Feed the engine; an engine fault costs alerts, never the stored data."""
        if self._alerts is None:
            return []
        try:
            return alerting.observe(self._alerts, messages, retained)
        except Exception as exc:  # rate-limited: a broken engine fails on every batch
            self._complaints.warning("alert engine", "alert engine failed on a batch; its "
                                     "alerts may be missing: %r", exc)
            return []

    def _announce(self, announcements: list[tuple[Alert, str]]) -> None:
        alerting.announce(self._session, announcements, self._alert_events)

    def _retry(self, what: str, counter: str, action: Callable):
        """Run `action` until it succeeds while its store is down; raise _Refused at
        once when the store refuses the data (retrying that would stall for ever)."""
        delay = RETRY_MIN_DELAY_S
        while True:
            try:
                return action()
            except Exception as exc:
                if is_refused(exc):
                    raise _Refused(exc) from exc
                self._counters.add(counter)
                self._complaints.warning(what, "%s unavailable, batch kept for retry in "
                                               "%.1f s: %s", what, delay, exc)
                self._events.append(("ERROR", f"{what} unavailable: {str(exc)[:300]}"))
            if self._stop.wait(delay):
                raise _Stopping
            delay = min(delay * 2, RETRY_MAX_DELAY_S)

    def _housekeeping(self) -> None:
        now_mono = time.monotonic()
        if now_mono >= self._next_health:
            self._next_health = now_mono + HEALTH_INTERVAL_S
            self._health.publish(self.stats(), self._queue.qsize())
        if now_mono >= self._next_stats:
            self._next_stats = now_mono + self._settings.stats_interval_s
            self._log_stats()
        if not self._events and now_mono < self._next_stale_check:
            return
        self._next_stale_check = now_mono + STALE_CHECK_INTERVAL_S
        now = datetime.now(UTC)
        announcements: list[tuple[Alert, str]] = []
        try:
            with self._db.session() as session:
                self._write_events(session)
                silent_since = now - timedelta(seconds=self._settings.stale_after_s)
                for robot_id in RobotRepository(session).mark_stale(silent_since):
                    logger.info("robot %s silent for %.0f s: offline", robot_id,
                                self._settings.stale_after_s)
                    LogRepository(session).add(
                        "WARNING", CATEGORY_INGEST,
                        f"robot {robot_id} silent for {self._settings.stale_after_s:.0f} s, "
                        "marked offline", robot_id=robot_id, timestamp=now)
                    if self._alerts is not None:
                        self._pending_alerts += self._alerts.observe_connectivity(
                            robot_id, "offline", now)
                if self._alerts is not None:
                    announcements = apply_alert_changes(session, self._pending_alerts)
                    alerting.forget_resolved_elsewhere(self._alerts, session,
                                                       self._pending_alerts)
                if now_mono >= self._next_prune:
                    self._next_prune = now_mono + RECEIPT_PRUNE_INTERVAL_S
                    receipts.prune(session, now - RECEIPT_RETENTION)
        except (RecordsUnavailable, SQLAlchemyError) as exc:
            self._complaints.warning("housekeeping", "records unavailable for housekeeping: %s",
                                     exc)
            return
        self._pending_alerts = []
        self._announce(announcements)

    def _write_events(self, session) -> None:
        repo = LogRepository(session)
        while self._events:
            level, text = self._events.popleft()
            repo.add(level, CATEGORY_INGEST, text, timestamp=datetime.now(UTC))

    def _log_stats(self) -> None:
        stats = self.stats()
        logger.info("ingest: received=%d stored=%d rejected=%d dead_lettered=%d "
                    "redelivered=%d duplicates=%d confirmed=%d samples=%d store_failures=%d "
                    "records_failures=%d queued=%d",
                    stats.received, stats.stored, stats.rejected, stats.dead_lettered,
                    stats.redelivered, stats.duplicates, stats.confirmed,
                    stats.samples_written, stats.store_failures, stats.records_failures,
                    self._queue.qsize())
