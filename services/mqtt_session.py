"""The one class that owns a paho client, for the ingest service and the console.

Messages reach handlers as frozen dataclasses on paho's network thread; handlers must
be quick (append to a queue or ring buffer) and never touch a GUI.  `subscribe` returns
an unsubscribe function; every subscription is made again explicitly on each connect.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import paho.mqtt.client as mqtt

logger = logging.getLogger(__name__)

RECONNECT_MIN_DELAY_S = 1
RECONNECT_MAX_DELAY_S = 30
HANDLER_CACHE_MAX_TOPICS = 10_000


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    mid: int
    received_at: datetime
    generation: int  # which connection delivered it; acks for older ones are void


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


Handler = Callable[[ReceivedMessage], None]
ConnectionListener = Callable[[bool, str], None]


class MqttSession:
    def __init__(self, host: str, port: int, *, client_id: str = "",
                 clean_session: bool = True, manual_ack: bool = False,
                 username: str | None = None, password: str | None = None,
                 tls: bool = False, keepalive_s: int = 30, will: Will | None = None) -> None:
        self.host, self.port, self.keepalive_s = host, port, keepalive_s
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
            clean_session=clean_session, protocol=mqtt.MQTTv311, manual_ack=manual_ack)
        if username:
            self._client.username_pw_set(username, password)
        if tls:
            self._client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        if will:
            self._client.will_set(will.topic, will.payload, will.qos, will.retain)
        self._client.reconnect_delay_set(RECONNECT_MIN_DELAY_S, RECONNECT_MAX_DELAY_S)
        self._client.on_connect = self._on_connected
        self._client.on_disconnect = self._on_disconnected
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribed
        self._client.on_connect_fail = self._on_connect_failed
        self._lock = threading.Lock()
        self._subscriptions: dict[int, tuple[str, int, Handler]] = {}
        self._handler_cache: dict[str, list[Handler]] = {}
        self._next_token = 0
        self._listeners: list[ConnectionListener] = []
        self._generation = 0
        self._connected = threading.Event()
        self._ready = threading.Event()  # connected and every subscription acknowledged
        self._pending_subscribe_mid: int | None = None
        # paho's backoff is internal; mirror it to tell operators when the next try is.
        self._retry_delay_s = float(RECONNECT_MIN_DELAY_S)
        self._next_retry_at: float | None = None
        self._started = False

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background; paho reconnects with backoff after any loss."""
        self._started = True
        self._client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        self._client.loop_start()

    def stop(self) -> None:
        self._started = False
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()
        self._ready.clear()

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait until connected and the broker has acknowledged every subscription, so
        nothing published from now on can miss us."""
        return self._ready.wait(timeout_s)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def connection_state(self) -> tuple[str, float | None]:
        """("connected" | "connecting" | "reconnecting" | "stopped", next try as epoch s)."""
        if not self._started:
            return "stopped", None
        if self.connected:
            return "connected", None
        if self._next_retry_at is None:
            return "connecting", None
        return "reconnecting", self._next_retry_at

    @property
    def generation(self) -> int:
        return self._generation

    def add_connection_listener(self, listener: ConnectionListener) -> None:
        self._listeners.append(listener)

    # -- subscriptions ---------------------------------------------------------------
    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1) -> Callable[[], None]:
        with self._lock:
            token = self._next_token
            self._next_token += 1
            self._subscriptions[token] = (topic_filter, qos, handler)
            self._handler_cache.clear()
        if self.connected:
            self._client.subscribe(topic_filter, qos)

        def unsubscribe() -> None:
            with self._lock:
                entry = self._subscriptions.pop(token, None)
                self._handler_cache.clear()
                still_used = entry and any(f == entry[0] for f, _, _ in
                                           self._subscriptions.values())
            if entry and not still_used and self.connected:
                self._client.unsubscribe(entry[0])
        return unsubscribe

    def publish(self, topic: str, payload: bytes, qos: int = 1,
                retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self._client.publish(topic, payload, qos=qos, retain=retain)

    def ack(self, message: ReceivedMessage) -> None:
        """Acknowledge a QoS 1 message received with manual_ack, once it is safe.

        A message from an earlier connection is left alone: the broker redelivers it,
        and its mid may now belong to a different message.
        """
        if message.qos > 0 and message.generation == self._generation:
            self._client.ack(message.mid, message.qos)

    # -- paho callbacks (network thread) ---------------------------------------------
    def _on_connected(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.warning("broker %s:%s refused connection: %s", self.host, self.port,
                           reason_code)
            # Listeners get the broker's own answer: the disconnect that follows only
            # says "Unspecified error", which reads like a cut cable.
            self._notify(False, f"the broker refused the connection (CONNACK: {reason_code})")
            return
        self._generation += 1
        self._retry_delay_s = float(RECONNECT_MIN_DELAY_S)
        self._next_retry_at = None
        with self._lock:
            filters = {f: q for f, q, _ in self._subscriptions.values()}
        if filters:
            _, self._pending_subscribe_mid = client.subscribe(list(filters.items()))
        else:
            self._ready.set()
        self._connected.set()
        logger.info("connected to %s:%s (session present: %s)", self.host, self.port,
                    flags.session_present)
        self._notify(True, "connected")

    def _on_connect_failed(self, client, userdata) -> None:
        logger.warning("cannot reach broker %s:%s; next try in %.0f s", self.host, self.port,
                       self._retry_delay_s)
        self._schedule_retry()

    def _schedule_retry(self) -> None:
        self._next_retry_at = time.time() + self._retry_delay_s
        self._retry_delay_s = min(self._retry_delay_s * 2, RECONNECT_MAX_DELAY_S)

    def _on_subscribed(self, client, userdata, mid, reason_codes, properties) -> None:
        if mid != self._pending_subscribe_mid:
            return
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            logger.error("broker refused %d subscription(s): %s", len(refused), refused)
        logger.info("subscribed to %d topic filter(s)", len(reason_codes) - len(refused))
        self._ready.set()

    def _on_disconnected(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        self._ready.clear()
        if not self._started:
            logger.info("disconnected from %s:%s", self.host, self.port)
            return
        self._schedule_retry()
        logger.warning("disconnected from %s:%s: %s", self.host, self.port, reason_code)
        self._notify(False, str(reason_code))

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        message = ReceivedMessage(
            topic=msg.topic, payload=msg.payload, qos=msg.qos, retain=bool(msg.retain),
            dup=bool(msg.dup), mid=msg.mid, received_at=datetime.now(UTC),
            generation=self._generation)
        for handler in self._handlers_for(msg.topic):
            try:
                handler(message)
            except Exception:
                logger.exception("handler for %r failed", msg.topic[:120])

    def _handlers_for(self, topic: str) -> list[Handler]:
        """Handlers whose filter matches `topic`, cached per topic: matching every
        filter on every message was a measurable share of the receive thread."""
        with self._lock:
            handlers = self._handler_cache.get(topic)
            if handlers is None:
                if len(self._handler_cache) >= HANDLER_CACHE_MAX_TOPICS:
                    self._handler_cache.clear()  # bounded even if a peer invents topics
                handlers = [h for f, _, h in self._subscriptions.values()
                            if mqtt.topic_matches_sub(_strip_share(f), topic)]
                self._handler_cache[topic] = handlers
            return handlers

    def _notify(self, connected: bool, reason: str) -> None:
        for listener in self._listeners:
            try:
                listener(connected, reason)
            except Exception:
                logger.exception("connection listener failed")


def _strip_share(topic_filter: str) -> str:
    """`$share/<group>/<filter>` delivers topics matching <filter>."""
    if topic_filter.startswith("$share/"):
        return topic_filter.split("/", 2)[2]
    return topic_filter
