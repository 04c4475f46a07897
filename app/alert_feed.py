"""Alerts into the console: MQTT announcements plus database reloads, on the GUI thread.

Announcements arrive on paho's network thread and reloads run on a worker thread; both
only append to a queue.  A GUI-thread QTimer drains it and hands (AlertRow, event)
pairs to the callback in one batch.  The database is read at start and after every
(re)connect, once the broker has acknowledged the subscription, so an announcement
missed while disconnected is never missed for good.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QObject, QTimer

from services.alerts.announce import ALERTS_SUBSCRIPTION, AnnouncementError, parse_announcement
from services.alerts.service import AlertService
from services.ingest.stats import RateLimitedLog
from services.mqtt_session import MqttSession, ReceivedMessage
from widgets.alert_model import AlertRow

logger = logging.getLogger(__name__)

DRAIN_INTERVAL_MS = 100  # people do not see faster; bursts become one model update
ALERT_QOS = 1  # an acknowledgement announcement must not be lost on the way
RELOAD_WINDOW = timedelta(days=7)  # recent alerts; unacknowledged ones load at any age
RELOAD_LIMIT = 500
SUBSCRIBE_WAIT_S = 10.0  # read the database only once announcements cannot slip past
RELOADED = "reloaded"  # the event of rows that come from the database

AlertBatch = list[tuple[AlertRow, str]]  # (row, event): raised, escalated, ..., reloaded


def alert_row(alert: Any) -> AlertRow:
    """An AlertRow from an ORM Alert or an AlertAnnouncement (same attribute names)."""
    return AlertRow(
        id=int(alert.id), robot_id=alert.robot_id, alert_type=alert.alert_type,
        source=alert.source, severity=alert.severity, title=alert.title or "",
        message=alert.message or "",
        value=None if alert.value is None else float(alert.value),
        threshold=None if alert.threshold is None else float(alert.threshold),
        created_at=alert.created_at, acknowledged=bool(alert.acknowledged),
        acknowledged_by=alert.acknowledged_by, acknowledged_at=alert.acknowledged_at,
        resolved=bool(alert.resolved), resolved_at=alert.resolved_at)


def load_recent(service: AlertService, now: datetime | None = None) -> list[AlertRow]:
    """Alerts of the last RELOAD_WINDOW plus every unacknowledged one, newest first."""
    since = (now or datetime.now(UTC)) - RELOAD_WINDOW
    rows = {a.id: alert_row(a) for a in service.list(state="unacknowledged",
                                                     limit=RELOAD_LIMIT)}
    rows.update((a.id, alert_row(a)) for a in service.list(since=since, limit=RELOAD_LIMIT))
    return sorted(rows.values(), key=lambda r: (r.created_at or datetime.min.replace(
        tzinfo=UTC), r.id), reverse=True)


class AlertFeed(QObject):
    """Subscribes tonypi/alerts/+ on a shared MqttSession and reloads from the database."""

    def __init__(self, session: MqttSession, service: AlertService,
                 on_alerts: Callable[[AlertBatch], None], *,
                 on_reloaded: Callable[[], None] | None = None,
                 on_reload_failed: Callable[[str], None] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._service = service
        self._on_alerts = on_alerts
        self._on_reloaded = on_reloaded
        self._on_reload_failed = on_reload_failed
        self._queue: deque[tuple[AlertRow, str] | tuple[None, str]] = deque()
        self._unsubscribe: Callable[[], None] | None = None
        self._reload_lock = threading.Lock()
        self._reload_pending = threading.Event()
        self._stopped = threading.Event()
        self._bad_log = RateLimitedLog(logger)
        self.reloads_done = 0
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_INTERVAL_MS)
        self._timer.timeout.connect(self._on_drain_ticked)

    def start(self) -> None:
        self._stopped.clear()
        self._session.add_connection_listener(self._on_connection_changed)
        self._unsubscribe = self._session.subscribe(ALERTS_SUBSCRIPTION, self._on_message,
                                                    qos=ALERT_QOS)
        self._timer.start()
        self.reload()  # the session may be connected already: no listener call then

    def stop(self) -> None:
        self._stopped.set()
        self._timer.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def reload(self) -> None:
        """Read recent alerts from the database on a worker thread (coalesced)."""
        if self._reload_pending.is_set():
            return  # one reload is queued already; it will read the newest state
        self._reload_pending.set()
        threading.Thread(target=self._reload_in_background, name="alert-reload",
                         daemon=True).start()

    # -- worker / network threads: never touch Qt objects here -----------------------
    def _reload_in_background(self) -> None:
        with self._reload_lock:  # one reader at a time; a queued one waits here
            self._reload_pending.clear()
            if self._stopped.is_set():
                return
            if not self._session.wait_connected(SUBSCRIBE_WAIT_S):
                # Read anyway: the database is useful even with the broker down.
                logger.info("broker not ready; loading alerts without live updates")
            try:
                rows = load_recent(self._service)
            except Exception as exc:  # a down database must not kill the console
                logger.warning("could not load alerts: %s", exc)
                self._queue.append((None, f"could not load alerts: {exc}"))
                return
            self._queue.extend((row, RELOADED) for row in rows)
            self._queue.append((None, RELOADED))  # marks a finished reload

    def _on_connection_changed(self, connected: bool, _reason: str) -> None:
        if connected and not self._stopped.is_set():
            self.reload()

    def _on_message(self, message: ReceivedMessage) -> None:
        try:
            announcement = parse_announcement(message.topic, message.payload)
        except AnnouncementError as exc:
            self._bad_log.warning("bad_announcement", "ignored alert announcement on %s: %s",
                                  message.topic[:120], exc)
            return
        self._queue.append((alert_row(announcement), announcement.event))

    # -- GUI thread --------------------------------------------------------------------
    def _on_drain_ticked(self) -> None:
        batch: AlertBatch = []
        while self._queue:
            row, event = self._queue.popleft()
            if row is not None:
                batch.append((row, event))
                continue
            if batch:  # what came before the marker is handed over before it
                self._on_alerts(batch)
                batch = []
            if event == RELOADED:
                self.reloads_done += 1
                if self._on_reloaded is not None:
                    self._on_reloaded()
            elif self._on_reload_failed is not None:
                self._on_reload_failed(event)
        if batch:
            self._on_alerts(batch)

