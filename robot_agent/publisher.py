"""The one owner of the paho client: drains the outbox to the broker, in order, at QoS 1.

Bookkeeping that keeps "nothing lost, nothing needlessly doubled":
- A pump thread hands outbox rows to paho in id order while connected, never more than
  `max_in_flight` unacknowledged at once; the PUBACK (on_publish) deletes the row.
- `_cursor` is the highest row id handed to paho by this process.  Rows at or below it
  are either acknowledged, still held by paho (which re-sends its unacknowledged QoS>0
  messages itself after a reconnect), or dropped by the outbox bounds - so after a
  reconnect the pump simply continues above the cursor.  A new process starts with no
  cursor and publishes everything still in the outbox again.
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

from robot_agent.config import MqttConfig
from robot_agent.outbox import Outbox
from services.wire.topics import status_topic

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT = 100
RECONNECT_MIN_DELAY_S = 1
RECONNECT_MAX_DELAY_S = 30
PUMP_IDLE_WAIT_S = 0.25  # upper bound on latency if a wake-up is ever missed
DRAIN_POLL_S = 0.02
COMMAND_QOS = 1

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


class Publisher:
    def __init__(self, mqtt_config: MqttConfig, robot_id: str, outbox: Outbox,
                 client_id: str | None = None, max_in_flight: int = MAX_IN_FLIGHT,
                 reconnect_min_delay_s: int = RECONNECT_MIN_DELAY_S,
                 reconnect_max_delay_s: int = RECONNECT_MAX_DELAY_S) -> None:
        self.config = mqtt_config
        self.robot_id = robot_id
        self.outbox = outbox
        self.max_in_flight = max_in_flight
        self._birth_payload: Callable[[], bytes] | None = None
        self._status_topic = status_topic(robot_id)
        self._lock = threading.Lock()
        self._inflight: dict[int, int | None] = {}  # mid -> outbox row id (None: direct)
        self._early_acks: set[int] = set()
        self._acked_rows: list[int] = []
        self._cursor = 0
        self._handlers: dict[str, list[MessageHandler]] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._pump_thread: threading.Thread | None = None
        self._connects = 0
        self.published = self.acked = self.failed = self.handler_errors = 0

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
        self._settle_acks()
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    def drain(self, timeout_s: float) -> bool:
        """Wait until the outbox is empty and every message is acknowledged."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                idle = not self._inflight and not self._acked_rows
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
        return PublisherStats(self.connected, self.published, self.acked,
                              max(0, self._connects - 1), in_flight, self.failed,
                              self.handler_errors)

    # -- publishing ---------------------------------------------------------------------

    def publish_now(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Send outside the outbox (command responses: only useful while someone waits)."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        self._track(info.mid, None)

    def _track(self, mid: int, row_id: int | None) -> None:
        with self._lock:
            self.published += 1
            if mid in self._early_acks:
                self._early_acks.discard(mid)
                if row_id is not None:
                    self._acked_rows.append(row_id)
            else:
                self._inflight[mid] = row_id

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            self.acked += 1
            if mid not in self._inflight:
                self._early_acks.add(mid)
                return
            row_id = self._inflight.pop(mid)
            if row_id is not None:
                self._acked_rows.append(row_id)
        self._wake.set()

    def _settle_acks(self) -> None:
        with self._lock:
            rows, self._acked_rows = self._acked_rows, []
        if rows:
            self.outbox.delete(rows)

    def _pump(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self._settle_acks()
                handed = self._hand_rows() if self._connected.is_set() else 0
            except Exception:  # the pump must survive a bad row or a full disk
                logger.exception("outbox pump failed; retrying")
                handed = 0
            if not handed:
                self._wake.wait(PUMP_IDLE_WAIT_S)

    def _hand_rows(self) -> int:
        with self._lock:
            room = self.max_in_flight - len(self._inflight)
        if room <= 0:
            return 0
        handed = 0
        for row in self.outbox.pending(limit=room, after_id=self._cursor):
            try:
                info = self._client.publish(row.topic, row.payload, qos=row.qos,
                                            retain=row.retain)
            except ValueError as exc:  # e.g. a topic paho refuses: it can never be sent
                logger.error("dropping outbox row %d on %r: %s", row.id, row.topic, exc)
                self.failed += 1
                self.outbox.delete([row.id])
                self._cursor = row.id
                continue
            if row.qos == 0 and info.rc == mqtt.MQTT_ERR_NO_CONN:
                break  # paho keeps no QoS 0 message while offline: hand it again later
            self._cursor = row.id
            self._track(info.mid, row.id)
            handed += 1
        return handed

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
            self._track(info.mid, None)
        with self._lock:
            topics = list(self._handlers)
        for topic in topics:
            client.subscribe(topic, qos=COMMAND_QOS)
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
