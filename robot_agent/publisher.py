"""The one owner of the paho client: drains the outbox to the broker, in order, at QoS 1.

Bookkeeping that keeps "nothing lost, nothing needlessly doubled":
- A pump thread hands outbox rows to paho in id order while connected, never more than
  `max_in_flight` unacknowledged at once.
- End-to-end receipts (`await_receipts`, the default; services/wire/receipts.py): a PUBACK
  only means "the broker has it" - Mosquitto loses what it queued since its last autosave
  when it crashes.  So a row with a seq stays in the outbox after its PUBACK ("with the
  broker") until the ingest's receipt on tonypi/receipts/<robot_id> covers its seq; the
  pump then deletes it with one range DELETE per receipt range.  Rows without a seq
  (written before the outbox had the column) and direct publishes are done at PUBACK,
  and so is everything when `await_receipts` is off.
- What was sent but never confirmed is sent again (the ingest de-duplicates by
  (robot_id, seq) and confirms repeats too): after every reconnect (the broker may have
  crashed: the cursor goes back to the start), and when the oldest unconfirmed row has
  waited `receipt_timeout_s` after its PUBACK without a receipt.  That timeout doubles
  (up to `receipt_timeout_max_s`) while no receipt comes, so an ingest away for an hour
  does not flood the broker's queue, and is reset by the next receipt.
- `_cursor` is the highest row id handed to paho since the last (re)start of the pass.
  Rows at or below it are either acknowledged (deleted, or with the broker awaiting a
  receipt), still held by paho (which re-sends its unacknowledged QoS>0 messages itself
  after a reconnect: a re-send pass skips them), or dropped by the outbox bounds.  A new
  process starts with no cursor and publishes everything still in the outbox again.
- paho may report the PUBACK before `publish()` has returned the mid to us, so an ack
  for a mid we do not know yet is parked in `_early_acks` and settled right after.
- Order is the outbox order, except right after a reconnect: paho re-sends what it
  still held from inside its CONNACK handling, which can interleave with the first new
  rows.  Consumers order by `seq`/`ts`, never by arrival.
- The session is clean: commands queued while the robot was away (a stale "move") must
  not run when it comes back; subscriptions are renewed in on_connect instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from robot_agent.config import DEFAULT_RECEIPT_TIMEOUT_S, MqttConfig
from robot_agent.outbox import Outbox
from services.wire.ingest_health import HEALTH_FILTER, HealthError, decode_health
from services.wire.receipts import ReceiptError, decode_receipt, receipt_topic
from services.wire.topics import status_topic

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT = 100
RECONNECT_MIN_DELAY_S = 1
RECONNECT_MAX_DELAY_S = 30
PUMP_IDLE_WAIT_S = 0.25  # upper bound on latency if a wake-up is ever missed
DRAIN_POLL_S = 0.02
COMMAND_QOS = 1
RECEIPT_QOS = 1
RECEIPT_TIMEOUT_S = DEFAULT_RECEIPT_TIMEOUT_S
RECEIPT_TIMEOUT_MAX_S = 300.0  # the back-off while receipts keep not coming stops here
RECEIPT_CHECK_INTERVAL_S = 0.5  # how often the pump looks at the oldest unconfirmed row
BAD_RECEIPT_LOG_INTERVAL_S = 60.0

MessageHandler = Callable[[str, bytes], None]


@dataclass(frozen=True, slots=True)
class PublisherStats:
    connected: bool
    published: int  # handed to paho (outbox rows and direct messages)
    acked: int  # acknowledged by the broker
    reconnects: int
    in_flight: int
    failed: int  # rows paho refused outright (dropped, logged)
    handler_errors: int
    unconfirmed: int = 0  # rows handed to the broker that no receipt has confirmed yet
    resent: int = 0  # rows handed again by a re-send pass
    resends: int = 0  # re-send passes (after a reconnect or a receipt timeout)
    receipts: int = 0  # valid receipts received
    confirmed: int = 0  # rows deleted because a receipt covered their seq
    bad_receipts: int = 0  # refused receipts (malformed, another robot's): never acted on


class Publisher:
    def __init__(self, mqtt_config: MqttConfig, robot_id: str, outbox: Outbox,
                 client_id: str | None = None, max_in_flight: int = MAX_IN_FLIGHT,
                 reconnect_min_delay_s: int = RECONNECT_MIN_DELAY_S,
                 reconnect_max_delay_s: int = RECONNECT_MAX_DELAY_S,
                 await_receipts: bool = True,
                 receipt_timeout_s: float = RECEIPT_TIMEOUT_S,
                 receipt_timeout_max_s: float = RECEIPT_TIMEOUT_MAX_S) -> None:
        if receipt_timeout_s <= 0:
            raise ValueError("receipt_timeout_s must be positive")
        self.config = mqtt_config
        self.robot_id = robot_id
        self.outbox = outbox
        self.max_in_flight = max_in_flight
        self.await_receipts = await_receipts
        self.receipt_timeout_s = receipt_timeout_s
        self.receipt_timeout_max_s = max(receipt_timeout_s, receipt_timeout_max_s)
        self._birth_payload: Callable[[], bytes] | None = None
        self._status_topic = status_topic(robot_id)
        self._receipt_topic = receipt_topic(robot_id)
        self._lock = threading.Lock()
        # mid -> (outbox row id or None for a direct publish, waits for a receipt)
        self._inflight: dict[int, tuple[int | None, bool]] = {}
        self._inflight_rows: set[int] = set()  # row ids among them
        self._early_acks: set[int] = set()
        self._acked_rows: list[int] = []
        self._receipts: list[list[tuple[int, int]]] = []  # decoded, not yet applied
        self._cursor = 0
        self._high_water = 0  # highest row id ever handed by this process
        self._resend_requested = False
        self._resend_upto = 0  # rows up to here handed again count as re-sent
        self._timeout_s = receipt_timeout_s  # current, backed off while no receipt comes
        self._watch: tuple[int, float] | None = None  # (oldest unconfirmed row, since)
        self._next_check = 0.0
        self._last_bad_log = -BAD_RECEIPT_LOG_INTERVAL_S
        self._unlogged_bad = 0
        self._handlers: dict[str, list[MessageHandler]] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._pump_thread: threading.Thread | None = None
        self._connects = 0
        self.published = self.acked = self.failed = self.handler_errors = 0
        self.resent = self.resends = self.receipts = self.confirmed = self.bad_receipts = 0
        if await_receipts:  # renewed in on_connect like every subscription
            self._handlers[self._receipt_topic] = [self._on_receipt]
            self._handlers[HEALTH_FILTER] = [self._on_ingest_health]

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=client_id or f"tonypi-agent-{robot_id}",
                             clean_session=True, protocol=mqtt.MQTTv311)
        # paho's own window matches ours, so nothing we hand it waits in a hidden queue.
        client.max_inflight_messages_set(max_in_flight)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(reconnect_min_delay_s, reconnect_max_delay_s)
        if mqtt_config.username:
            client.username_pw_set(mqtt_config.username, mqtt_config.password)
        if mqtt_config.tls:
            client.tls_set()
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._client = client

    def set_presence(self, will_payload: bytes, birth_payload: Callable[[], bytes]) -> None:
        """Before start(): the retained status the broker publishes if we vanish (last
        will) and the one we publish on every (re)connect (birth)."""
        self._client.will_set(self._status_topic, will_payload, qos=1, retain=True)
        self._birth_payload = birth_payload

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._client.connect_async(self.config.host, self.config.port, self.config.keepalive_s)
        self._client.loop_start()
        self._pump_thread = threading.Thread(target=self._pump, name="outbox-pump", daemon=True)
        self._pump_thread.start()
        logger.info("publishing to %s:%d as %s", self.config.host, self.config.port,
                    self.robot_id)

    def stop(self) -> None:
        """Disconnect cleanly (the broker then discards the last will)."""
        self._stopping.set()
        self._wake.set()
        if self._pump_thread is not None:
            self._pump_thread.join(timeout=5)
        self._settle()
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    def drain(self, timeout_s: float) -> bool:
        """Wait until the outbox is empty and every message is acknowledged: with
        `await_receipts`, until every row is confirmed by a receipt."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                idle = not self._inflight and not self._acked_rows and not self._receipts
            if idle and self.outbox.count() == 0:
                return True
            self._wake.set()
            time.sleep(DRAIN_POLL_S)
        return False

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def wake(self) -> None:
        """New rows are in the outbox."""
        self._wake.set()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def stats(self) -> PublisherStats:
        with self._lock:
            in_flight = len(self._inflight)
        unconfirmed = (self.outbox.count_with_seq_upto(self._high_water)
                       if self.await_receipts and self._high_water else 0)
        return PublisherStats(self.connected, self.published, self.acked,
                              max(0, self._connects - 1), in_flight, self.failed,
                              self.handler_errors, unconfirmed, self.resent, self.resends,
                              self.receipts, self.confirmed, self.bad_receipts)

    # -- publishing ---------------------------------------------------------------------

    def publish_now(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Send outside the outbox (command responses: only useful while someone waits)."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        self._track(info.mid, None, awaits_receipt=False)

    def _track(self, mid: int, row_id: int | None, awaits_receipt: bool) -> None:
        with self._lock:
            self.published += 1
            if mid in self._early_acks:
                self._early_acks.discard(mid)
                if row_id is not None and not awaits_receipt:
                    self._acked_rows.append(row_id)
            else:
                self._inflight[mid] = (row_id, awaits_receipt)
                if row_id is not None:
                    self._inflight_rows.add(row_id)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            self.acked += 1
            if mid not in self._inflight:
                self._early_acks.add(mid)
                return
            row_id, awaits_receipt = self._inflight.pop(mid)
            if row_id is not None:
                self._inflight_rows.discard(row_id)
                if not awaits_receipt:  # done; otherwise "with the broker" until a receipt
                    self._acked_rows.append(row_id)
        self._wake.set()

    def _settle(self) -> None:
        """Apply PUBACKs and receipts the network thread collected (the pump's job, so
        the network thread never waits for SQLite)."""
        with self._lock:
            rows, self._acked_rows = self._acked_rows, []
            receipts, self._receipts = self._receipts, []
        if rows:
            self.outbox.delete(rows)
        if receipts:
            self.confirmed += self.outbox.confirm(r for ranges in receipts for r in ranges)
            self._timeout_s = self.receipt_timeout_s  # the ingest is there: no back-off

    def _pump(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self._settle()
                handed = 0
                if self._connected.is_set():
                    handed = self._hand_rows()
                    if self.await_receipts:
                        self._check_receipt_timeout()
            except Exception:  # the pump must survive a bad row or a full disk
                logger.exception("outbox pump failed; retrying")
                handed = 0
            if not handed:
                self._wake.wait(PUMP_IDLE_WAIT_S)

    def _hand_rows(self) -> int:
        with self._lock:
            room = self.max_in_flight - len(self._inflight)
            if self._resend_requested:
                self._resend_requested = False
                self._resend_upto = max(self._resend_upto, self._cursor)
                self._cursor = 0
                self._watch = None
        handed = 0
        while handed < room:
            rows = self.outbox.pending(limit=room - handed, after_id=self._cursor)
            if not rows:
                break
            for row in rows:
                with self._lock:
                    held_by_paho = row.id in self._inflight_rows
                if held_by_paho:  # paho re-sends it itself after a reconnect
                    self._cursor = row.id
                    continue
                try:
                    info = self._client.publish(row.topic, row.payload, qos=row.qos,
                                                retain=row.retain)
                except ValueError as exc:  # e.g. a topic paho refuses: never sendable
                    logger.error("dropping outbox row %d on %r: %s", row.id, row.topic, exc)
                    self.failed += 1
                    self.outbox.delete([row.id])
                    self._cursor = row.id
                    continue
                if row.qos == 0 and info.rc == mqtt.MQTT_ERR_NO_CONN:
                    return handed  # paho keeps no QoS 0 message offline: hand it later
                self._cursor = row.id
                if row.id <= self._resend_upto:
                    self.resent += 1
                self._high_water = max(self._high_water, row.id)
                self._track(info.mid, row.id,
                            awaits_receipt=self.await_receipts and row.seq is not None)
                handed += 1
        return handed

    # -- receipts -----------------------------------------------------------------------

    def _request_resend(self) -> None:
        """Send every unconfirmed row again, in id order, from the next pump pass on."""
        with self._lock:
            self._resend_requested = True
            self.resends += 1
        self._wake.set()

    def _check_receipt_timeout(self) -> None:
        """Re-send when the oldest unconfirmed row has waited too long after its PUBACK.

        A progress watchdog: `_watch` is the oldest row that waits for a receipt and was
        handed and acknowledged, with the time it was first seen so; a receipt that
        confirms it moves the watch to the next row."""
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + RECEIPT_CHECK_INTERVAL_S
        oldest = self.outbox.oldest_with_seq()
        with self._lock:
            waiting = (oldest is not None and oldest <= self._cursor
                       and oldest not in self._inflight_rows and not self._resend_requested)
            if not waiting:
                self._watch = None
                return
            if self._watch is None or self._watch[0] != oldest:
                self._watch = (oldest, now)
                return
            if now - self._watch[1] < self._timeout_s:
                return
            waited, self._watch = now - self._watch[1], None
            self._timeout_s = min(self._timeout_s * 2, self.receipt_timeout_max_s)
        logger.warning("no receipt for %s's outbox row %d %.0f s after the broker took it: "
                       "sending the %d unconfirmed message(s) again (next time after %.0f s "
                       "without a receipt; is tonypi-ingest running?)", self.robot_id,
                       oldest, waited, self.outbox.count(), self._timeout_s)
        self._request_resend()

    def _on_receipt(self, topic: str, payload: bytes) -> None:
        try:
            ranges = decode_receipt(self.robot_id, topic, payload)
        except ReceiptError as exc:
            self._bad_receipt(str(exc))
            return
        with self._lock:
            self.receipts += 1
            self._receipts.append(ranges)
        self._wake.set()

    def _on_ingest_health(self, topic: str, payload: bytes) -> None:
        """An ingest that (re)connected may have lost what the broker queued for it
        (a broker crash loses its queues): re-send what it never confirmed."""
        try:
            health = decode_health(topic, payload)
        except HealthError as exc:
            self._bad_receipt(f"ingest health: {exc}")
            return
        if health.announce and health.state == "online" and self.outbox.count():
            logger.info("ingest %s (re)connected: sending unconfirmed messages again",
                        health.instance)
            self._request_resend()

    def _bad_receipt(self, reason: str) -> None:
        self.bad_receipts += 1
        self._unlogged_bad += 1
        now = time.monotonic()
        if now - self._last_bad_log >= BAD_RECEIPT_LOG_INTERVAL_S:
            self._last_bad_log = now
            logger.warning("ignored %d bad receipt(s) (%d in total), latest: %s",
                           self._unlogged_bad, self.bad_receipts, reason)
            self._unlogged_bad = 0

    # -- connection and subscriptions ---------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.error("broker refused the connection: %s", reason_code)
            return
        self._connects += 1
        if self._connects > 1:
            logger.info("reconnected to the broker (reconnect #%d)", self._connects - 1)
        if self._birth_payload is not None:
            info = client.publish(self._status_topic, self._birth_payload(), qos=1, retain=True)
            self._track(info.mid, None, awaits_receipt=False)
        with self._lock:
            topics = list(self._handlers)
        for topic in topics:
            client.subscribe(topic, qos=RECEIPT_QOS if topic == self._receipt_topic
                             else COMMAND_QOS)
        if self.await_receipts and self._connects > 1:
            # A new connection: the broker may have crashed and lost what it had taken.
            self._request_resend()
        self._connected.set()
        self._wake.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            logger.warning("lost the broker connection (%s); paho reconnects with backoff",
                           reason_code)

    def subscribe(self, topic: str, handler: MessageHandler) -> Callable[[], None]:
        """Call `handler(topic, payload)` for every message on `topic` (QoS 1), across
        reconnects; the returned callable undoes it."""
        with self._lock:
            handlers = self._handlers.setdefault(topic, [])
            first = not handlers
            handlers.append(handler)
        if first and self._connected.is_set():
            self._client.subscribe(topic, qos=COMMAND_QOS)

        def unsubscribe() -> None:
            with self._lock:
                remaining = self._handlers.get(topic, [])
                if handler in remaining:
                    remaining.remove(handler)
                last = not remaining and self._handlers.pop(topic, None) is not None
            if last and self._connected.is_set():
                self._client.unsubscribe(topic)

        return unsubscribe

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            matching = [h for sub, hs in self._handlers.items()
                        if mqtt.topic_matches_sub(sub, message.topic) for h in hs]
        for handler in matching:
            try:
                handler(message.topic, message.payload)
            except Exception:  # a handler bug must not kill paho's network thread
                self.handler_errors += 1
                logger.exception("handler for %s failed", message.topic)
