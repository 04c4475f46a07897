"""Shared pieces of the agent tests: a real paho subscriber and agent wiring."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

from robot_agent.agent import Agent, Collectors
from robot_agent.collectors.simulation import SimulatedRobot
from robot_agent.collectors.system import SystemCollector
from robot_agent.config import AgentConfig, MqttConfig, OutboxConfig
from robot_agent.outbox import Outbox
from robot_agent.publisher import Publisher
from services.wire.receipts import encode_receipts

FAST_RATES_S = {"status": 0.5, "performance": 0.1, "battery": 0.1, "servos": 0.1,
                "imu": 0.05, "sensors": 0.1}


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool

    def json(self) -> dict:
        return json.loads(self.payload)


class Subscriber:
    """A paho subscriber on its own thread; records everything it receives."""

    def __init__(self, port: int, topics: list[str], client_id: str = "",
                 clean_session: bool = True) -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=clean_session, protocol=mqtt.MQTTv311)
        self.client.reconnect_delay_set(1, 1)
        self.topics = topics

        def on_connect(client, userdata, flags, reason_code, properties):
            client.subscribe([(t, 1) for t in topics])

        def on_subscribe(client, userdata, mid, reason_codes, properties):
            self._subscribed.set()

        def on_message(client, userdata, msg):
            with self._lock:
                self.messages.append(Received(msg.topic, msg.payload, msg.retain))

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        assert self._subscribed.wait(5), "subscriber never subscribed"

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout_s: float = 5.0,
                 ) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            messages = self.snapshot()
            if predicate(messages):
                return messages
            time.sleep(0.02)
        raise AssertionError(f"condition not met within {timeout_s}s; got "
                             f"{len(self.snapshot())} message(s)")

    def publish(self, topic: str, payload: bytes | str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def seqs(messages: list[Received], robot_id: str) -> list[int]:
    out = []
    for m in messages:
        if m.topic.endswith("/" + robot_id) and m.topic.startswith("tonypi/"):
            seq = m.json().get("seq")
            if seq is not None:
                out.append(seq)
    return out


def agent_config(tmp_path: Path, port: int, robot_id: str = "test_bot",
                 scenario: str = "normal", rates: dict | None = None,
                 await_receipts: bool = False, receipt_timeout_s: float = 30.0,
                 ) -> AgentConfig:
    """Receipts are off unless asked for: most tests run against a bare broker, with no
    ingest to confirm anything (the production default is on)."""
    return AgentConfig(robot_id=robot_id, scenario=scenario, simulate=True, seed=7,
                       mqtt=MqttConfig(host="127.0.0.1", port=port, keepalive_s=10),
                       outbox=OutboxConfig(path=tmp_path / "outbox.db",
                                           await_receipts=await_receipts,
                                           receipt_timeout_s=receipt_timeout_s),
                       rates_s=rates or FAST_RATES_S)


def make_agent(config: AgentConfig, outbox: Outbox | None = None) -> Agent:
    """An agent on the simulation, with reconnects quick enough for a test."""
    outbox = outbox or Outbox(config.outbox.path, config.outbox.max_messages,
                              config.outbox.max_age_s)
    publisher = Publisher(config.mqtt, config.robot_id, outbox,
                          reconnect_min_delay_s=1, reconnect_max_delay_s=1,
                          await_receipts=config.outbox.await_receipts,
                          receipt_timeout_s=config.outbox.receipt_timeout_s)
    hardware = SimulatedRobot(config.scenario, seed=config.seed or 0)
    return Agent(config, Collectors(SystemCollector(), hardware), outbox, publisher)


class ReceiptEcho:
    """A stand-in for the ingest's receipts: confirms every seq it receives from
    `robot_id` (while `confirming` is set), the way services/wire/receipts.py says."""

    def __init__(self, port: int, robot_id: str, client_id: str = "",
                 clean_session: bool = True) -> None:
        self.robot_id = robot_id
        self.confirming = threading.Event()
        self.confirming.set()
        self.seen: list[int] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=clean_session, protocol=mqtt.MQTTv311)
        self.client.reconnect_delay_set(1, 1)

        def on_connect(client, userdata, flags, reason_code, properties):
            client.subscribe(f"tonypi/+/{robot_id}", 1)

        def on_subscribe(client, userdata, mid, reason_codes, properties):
            self._subscribed.set()

        def on_message(client, userdata, msg):
            if msg.topic.startswith("tonypi/receipts/"):
                return
            seq = json.loads(msg.payload).get("seq")
            if seq is None:
                return
            with self._lock:
                self.seen.append(seq)
            if self.confirming.is_set():
                for topic, payload in encode_receipts(robot_id, [seq]):
                    client.publish(topic, payload, qos=1)

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        assert self._subscribed.wait(5), "receipt echo never subscribed"

    def snapshot(self) -> list[int]:
        with self._lock:
            return list(self.seen)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
