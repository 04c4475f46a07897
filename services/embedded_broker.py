"""An in-process MQTT broker for `tonypi-console --demo`: amqtt on a loopback port.

amqtt is asyncio; it runs here in a thread of its own with its own event loop, so the
rest of the program (paho clients, Qt) never sees asyncio.  Clients connect over real
TCP exactly as they would to Mosquitto on the lab server: only the endpoint differs.

Where amqtt 0.12.1 differs from Mosquitto, and what this module does about it:
- MQTT 3.1.1 only (MqttSession and the agent already speak 3.1.1).
- Persistent sessions: amqtt's stock anonymous-auth plugin marks every client without a
  username "anonymous", and amqtt then keeps no session for it: no QoS 1 messages are
  queued while a clean_session=False client (the ingest service) is away, and the session
  is dropped a second after it disconnects.  Mosquitto with anonymous access does keep
  such sessions, so this broker uses `LoopbackAuthPlugin`, which lets every client in
  (the listener is loopback only) without the anonymous mark.  Queuing then works.
- Unacknowledged QoS 1 messages are NOT redelivered on reconnect: amqtt waits 5 s for a
  PUBACK, then logs a warning and forgets the message, and a disconnect cancels every
  pending wait the same way.  With manual acks the ingest service acknowledges a batch
  within its flush interval plus one store write (well under 5 s), so the demo loses
  nothing in practice, but "redelivered after an ingest crash" holds on Mosquitto only.
- QoS 0 publishes reach subscribers at the subscription's QoS (they are upgraded).
- On connect, amqtt also sends a client the retained messages matching any filter that
  *any* client subscribed to.  MqttSession and the agent's publisher dispatch by their
  own filters, so such strays are ignored.  Messages queued for a persistent session
  while it was away arrive with the retain flag set.
- While a client connects, amqtt walks its subscription table and awaits between steps;
  another client subscribing meanwhile raised "dictionary changed size during
  iteration", which killed the connecting client's session half-way: the broker dropped
  the connection (leaking its socket until garbage collection) and the client had to
  reconnect.  Robots starting together hit it.  `_SnapshotIterDict` makes that walk go
  over a snapshot.
- amqtt's own connection close drains first and gives up if that fails (a peer that
  vanished), so such sockets stayed open until garbage collection (seen in the tests as
  ResourceWarnings); `_Broker.stream_connected` closes every connection it served.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
LISTENER = "default"
# amqtt logs every connection at INFO; the demo's console log should show ours only.
AMQTT_LOG_LEVEL = logging.WARNING
QUIET_LOGGERS = ("amqtt", "transitions")


class _SnapshotIterDict(dict):
    """A dict whose `for key in d` walks a copy of the keys (see the module docstring)."""

    def __iter__(self):
        return iter(list(super().__iter__()))


class _Broker(Broker):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self._subscriptions = _SnapshotIterDict()  # start() clears it, keeping the type

    async def stream_connected(self, reader: asyncio.StreamReader,
                               writer: asyncio.StreamWriter, listener_name: str) -> None:
        try:
            await super().stream_connected(reader, writer, listener_name)
        finally:
            # The connection is over; amqtt's own close may have given up (docstring).
            writer.close()


class LoopbackAuthPlugin(BaseAuthPlugin):
    """Let every client in without marking it anonymous, so clean_session=False keeps a
    session as it does on Mosquitto (see the module docstring)."""

    async def authenticate(self, *, session: Session) -> bool:
        return True


def _broker_config(host: str, port: int) -> dict[str, Any]:
    return {
        "listeners": {LISTENER: {"type": "tcp", "bind": f"{host}:{port}"}},
        # No $SYS plugin and no packet/event logger plugins: only authentication.
        "plugins": {f"{__name__}.LoopbackAuthPlugin": {}},
    }


def _log_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # amqtt fires and forgets a task per QoS 1 delivery; one that times out waiting for a
    # PUBACK ends up here.  One line, not asyncio's default ERROR with a traceback.
    exc = context.get("exception")
    logger.warning("embedded broker: %s", exc if exc is not None else context.get("message"),
                   exc_info=exc if logger.isEnabledFor(logging.DEBUG) else None)


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker did not start or stop in time."""


class EmbeddedBroker:
    def __init__(self, host: str = DEFAULT_HOST, port: int = 0) -> None:
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._broker: Broker | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise EmbeddedBrokerError("the embedded broker is not running")
        return self._port

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._port is not None

    def unacknowledged(self, client_id: str, timeout_s: float = 5.0) -> int:
        """QoS 1/2 messages sent to `client_id` and not yet acknowledged by it (0 for a
        client without a session): shows whether a manual-ack client really acks."""
        loop, broker = self._loop, self._broker
        if loop is None or broker is None:
            raise EmbeddedBrokerError("the embedded broker is not running")

        async def count() -> int:  # read on the broker's loop: amqtt is not thread-safe
            entry = broker.sessions.get(client_id)
            return len(entry[0].inflight_out) if entry else 0

        return asyncio.run_coroutine_threadsafe(count(), loop).result(timeout_s)

    def start(self, timeout_s: float = 10.0) -> None:
        """Listen on host:port (a free port when port=0); return once it accepts clients."""
        if self._thread is not None:
            raise EmbeddedBrokerError("the embedded broker is already running")
        for name in QUIET_LOGGERS:
            quiet = logging.getLogger(name)
            if quiet.level == logging.NOTSET:  # leave an explicit choice alone
                quiet.setLevel(AMQTT_LOG_LEVEL)
        self._started.clear()
        self._start_error = None
        self._thread = threading.Thread(target=self._run, name="embedded-mqtt-broker",
                                        daemon=True)
        self._thread.start()
        if not self._started.wait(timeout_s):
            self.stop(timeout_s)
            raise EmbeddedBrokerError(f"embedded broker not up within {timeout_s} s")
        if self._start_error is not None:
            error = self._start_error
            self._thread.join(timeout_s)
            self._thread = None
            raise EmbeddedBrokerError(f"embedded broker failed to start: {error}") from error
        logger.info("embedded MQTT broker listening on %s:%d", self.host, self._port)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Disconnect every client, close the listener and end the thread.  Idempotent."""
        thread, loop, stop_requested = self._thread, self._loop, self._stop_requested
        if thread is None:
            return
        if loop is not None and stop_requested is not None:
            try:
                loop.call_soon_threadsafe(stop_requested.set)
            except RuntimeError:  # the loop already closed: the thread is ending anyway
                pass
        thread.join(timeout_s)
        if thread.is_alive():
            raise EmbeddedBrokerError(f"embedded broker did not stop within {timeout_s} s")
        self._thread = None
        self._port = None
        logger.info("embedded MQTT broker stopped")

    # -- broker thread ---------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(_log_loop_exception)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to start() or logged
            if not self._started.is_set():
                self._start_error = exc
            else:
                logger.exception("embedded broker failed")
        finally:
            self._close_loop(loop)
            self._loop = None
            self._stop_requested = None
            self._started.set()  # a start() still waiting learns of the failure

    async def _serve(self) -> None:
        self._stop_requested = asyncio.Event()
        # Built inside the running loop: amqtt creates futures and queues in __init__.
        broker = _Broker(_broker_config(self.host, self._requested_port))
        await broker.start()
        try:
            self._port = self._bound_port(broker)
            self._broker = broker
            self._started.set()
            await self._stop_requested.wait()
        finally:
            self._broker = None
            await broker.shutdown()

    @staticmethod
    def _bound_port(broker: Broker) -> int:
        # Asking the OS for the port the listener really got avoids the race of picking a
        # "free" port first and binding it later.  amqtt has no public accessor for it.
        server = broker._servers[LISTENER].instance  # noqa: SLF001
        return int(server.sockets[0].getsockname()[1])

    @staticmethod
    def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
        # amqtt leaves per-connection tasks behind after shutdown; end them before closing
        # the loop so nothing is destroyed pending and no socket leaks.
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        asyncio.set_event_loop(None)
        loop.close()
