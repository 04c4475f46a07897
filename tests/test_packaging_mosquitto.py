"""packaging/mosquitto: the shipped config and per-robot ACL on a real Mosquitto.

The config is run as shipped except for its port and paths; the ACL is enforced by the
broker and observed through MQTT v5 reason codes (0x87 = not authorised).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from services.wire import topics
from services.wire.receipts import receipt_topic
from tests.support.servers import free_port

PACKAGING = Path(__file__).resolve().parents[1] / "packaging"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
START_TIMEOUT_S = 10.0
MQTT_TIMEOUT_S = 5.0
NOT_AUTHORIZED = 0x87


def test_acl_grants_every_topic_of_the_wire_format() -> None:
    lines = set((PACKAGING / "mosquitto" / "acl").read_text().splitlines())
    for kind in topics.DATA_KINDS_WITH_ID:
        assert f"pattern write tonypi/{kind}/%u" in lines, kind
    for topic in (*topics.DATA_TOPICS_WITHOUT_ID, *topics.RESPONSE_TOPICS):
        assert f"pattern write {topic}" in lines, topic
    for topic in topics.robot_command_subscriptions("%u"):
        assert f"pattern read {topic}" in lines, topic
    assert f"pattern read {receipt_topic('%u')}" in lines
    assert not any(line.startswith("pattern readwrite") or "tonypi/#" in line
                   for line in lines if line.startswith("pattern"))


def rewrite_config(workdir: Path, port: int) -> Path:
    """The packaged config with only its paths and port changed for this machine."""
    replacements = {
        "listener 1883": f"listener {port} 127.0.0.1",
        "password_file ": f"password_file {workdir / 'passwd'}",
        "acl_file ": f"acl_file {workdir / 'acl'}",
        "persistence_location ": f"persistence_location {workdir}/",
        "log_dest ": f"log_dest file {workdir / 'mosquitto.log'}",
    }
    seen, out = [], []
    for line in (PACKAGING / "mosquitto" / "mosquitto.conf").read_text().splitlines():
        for prefix, new in replacements.items():
            if line == prefix or (prefix.endswith(" ") and line.startswith(prefix)):
                seen.append(prefix)
                line = new
        out.append(line)
    assert sorted(seen) == sorted(replacements), "directives missing from mosquitto.conf"
    target = workdir / "mosquitto.conf"
    target.write_text("\n".join(out) + "\n")
    return target


def test_config_has_the_settings_ingest_relies_on() -> None:
    text = (PACKAGING / "mosquitto" / "mosquitto.conf").read_text()
    directives = dict(line.split(None, 1) for line in text.splitlines()
                      if line.strip() and not line.startswith("#"))
    assert directives["allow_anonymous"] == "false"
    assert directives["persistence"] == "true"
    assert int(directives["max_inflight_messages"]) >= 1000
    assert int(directives["max_queued_messages"]) >= 1_000_000
    assert "#listener 8883" in text and "#certfile " in text and "#keyfile " in text


USERS = ("tonypi_01", "tonypi_02", "tonypi-ingest", "tonypi-console")


@pytest.fixture
def lab_broker() -> Iterator[tuple[int, Path]]:
    if not (os.path.exists(MOSQUITTO) and MOSQUITTO_PASSWD):
        pytest.skip("mosquitto and mosquitto_passwd are needed")
    workdir = Path(tempfile.mkdtemp(prefix="tonypi-mq-", dir="/tmp"))
    workdir.chmod(0o777)  # Mosquitto started as root drops to its own user
    shutil.copy(PACKAGING / "mosquitto" / "acl", workdir / "acl")
    for number, user in enumerate(USERS):
        subprocess.run([MOSQUITTO_PASSWD, "-b", *(["-c"] if number == 0 else []),
                        str(workdir / "passwd"), user, f"pw-{user}"], check=True)
    for path in workdir.iterdir():
        path.chmod(0o644)
    port = free_port()
    proc = subprocess.Popen([MOSQUITTO, "-c", str(rewrite_config(workdir, port))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"mosquitto exited: {proc.stderr.read()!r}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "mosquitto did not listen"
                time.sleep(0.02)
        yield port, workdir
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stderr.close()
        shutil.rmtree(workdir, ignore_errors=True)


class Client:
    """An MQTT v5 client that reports the broker's CONNACK/PUBACK reason codes."""

    def __init__(self, port: int, username: str | None, password: str | None = None) -> None:
        self.received: list[str] = []
        self._acks: dict[int, int] = {}
        self._changed = threading.Condition()
        self.connack: int | None = None
        self.subacks = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if username:
            self.client.username_pw_set(username, password or f"pw-{username}")
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self._wait(lambda: self.connack is not None, "CONNACK")

    def _notify(self, change) -> None:
        with self._changed:
            change()
            self._changed.notify_all()

    def _wait(self, predicate, what: str) -> None:
        with self._changed:
            assert self._changed.wait_for(predicate, MQTT_TIMEOUT_S), f"no {what}"

    def _on_connect(self, _c, _u, _flags, reason_code, _props) -> None:
        self._notify(lambda: setattr(self, "connack", reason_code.value))

    def _on_publish(self, _c, _u, mid, reason_code, _props) -> None:
        self._notify(lambda: self._acks.__setitem__(mid, reason_code.value))

    def _on_subscribe(self, _c, _u, _mid, _codes, _props) -> None:
        self._notify(lambda: setattr(self, "subacks", self.subacks + 1))

    def _on_message(self, _c, _u, message) -> None:
        self._notify(lambda: self.received.append(message.topic))

    def subscribe(self, topic_filter: str) -> None:
        expected = self.subacks + 1
        self.client.subscribe(topic_filter, qos=1)
        self._wait(lambda: self.subacks >= expected, "SUBACK")

    def publish(self, topic: str) -> int:
        """The PUBACK reason code: 0 or 16 (no subscribers) accepted, 0x87 refused."""
        mid = self.client.publish(topic, b"{}", qos=1).mid
        self._wait(lambda: mid in self._acks, f"PUBACK for {topic}")
        return self._acks[mid]

    def wait_received(self, count: int) -> list[str]:
        self._wait(lambda: len(self.received) >= count, f"{count} messages")
        return list(self.received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_packaged_config_starts_and_authenticates(lab_broker) -> None:
    port, workdir = lab_broker
    clients = [Client(port, None), Client(port, "tonypi_01", "wrong"), Client(port, "tonypi_01")]
    for client in clients:
        client.close()
    anonymous, wrong_password, robot = (client.connack for client in clients)
    assert anonymous == NOT_AUTHORIZED  # allow_anonymous false
    assert wrong_password >= 0x80 and robot == 0
    log = (workdir / "mosquitto.log").read_text()
    assert "Error" not in log, log


def test_acl_confines_robots_ingest_and_console(lab_broker) -> None:
    port, _ = lab_broker
    ingest, console = Client(port, "tonypi-ingest"), Client(port, "tonypi-console")
    robot = Client(port, "tonypi_01")
    try:
        ingest.subscribe("tonypi/#")
        robot.subscribe("tonypi/commands/#")
        robot.subscribe("tonypi/emergency_stop/#")
        allowed = [topics.data_topic(kind, "tonypi_01") for kind in topics.DATA_KINDS_WITH_ID]
        allowed += [*topics.DATA_TOPICS_WITHOUT_ID, *topics.RESPONSE_TOPICS]
        for topic in allowed:
            assert robot.publish(topic) < 0x80, topic
        for topic in (topics.data_topic("status", "tonypi_02"), "tonypi/commands/tonypi_02",
                      "tonypi/emergency_stop/broadcast"):
            assert robot.publish(topic) == NOT_AUTHORIZED, topic
        for client in (ingest, console):
            assert client.publish("tonypi/status/tonypi_01") == NOT_AUTHORIZED
        assert ingest.publish("tonypi/commands/tonypi_01") == NOT_AUTHORIZED
        # Commands: another robot's are withheld, its own and broadcast ones arrive in order
        # (and none of the responses the robot published itself).
        commands = ["tonypi/commands/tonypi_02", "tonypi/commands/tonypi_01",
                    "tonypi/emergency_stop/broadcast"]
        for topic in commands:
            assert console.publish(topic) < 0x80, topic
        assert robot.wait_received(2) == commands[1:]
        # The ingest user saw what was allowed; the console's commands, published last,
        # arrive after anything refused earlier would have.
        assert sorted(ingest.wait_received(len(allowed) + 3)) == sorted(allowed + commands)
    finally:
        for client in (ingest, console, robot):
            client.close()


def test_compose_mosquitto_healthcheck_command(lab_broker) -> None:
    if not shutil.which("mosquitto_sub"):
        pytest.skip("mosquitto_sub (Debian package mosquitto-clients) is needed")
    # Read without a YAML parser: the flow list of quoted strings is valid JSON too.
    compose = (PACKAGING / "docker-compose.yml").read_text()
    kind, command = json.loads(re.search(r'test: (\["CMD-SHELL".*\])', compose).group(1))
    assert kind == "CMD-SHELL"
    port, _ = lab_broker
    as_run = command.replace("$$", "$")  # Compose unescapes $$ before running it

    def run(on_port: int) -> int:
        return subprocess.run(["sh", "-c", as_run.replace("-p 1883", f"-p {on_port}")],
                              timeout=15).returncode
    assert run(port) == 0
    assert run(free_port()) != 0  # nothing listens: unhealthy


def test_receipts_reach_only_their_robot_and_come_only_from_the_ingest(lab_broker) -> None:
    port, workdir = lab_broker
    ingest, console = Client(port, "tonypi-ingest"), Client(port, "tonypi-console")
    robot_a, robot_b = Client(port, "tonypi_01"), Client(port, "tonypi_02")
    clients = (ingest, console, robot_a, robot_b)
    try:
        robot_a.subscribe("tonypi/receipts/#")  # asks for more than it may read
        robot_b.subscribe(receipt_topic("tonypi_02"))
        console.subscribe("tonypi/#")
        # nobody but the ingest writes a receipt, not even for itself
        for client in (robot_a, robot_b, console):
            for robot in ("tonypi_01", "tonypi_02"):
                assert client.publish(receipt_topic(robot)) == NOT_AUTHORIZED, robot
        assert ingest.publish(receipt_topic("tonypi_02")) < 0x80
        assert ingest.publish(receipt_topic("tonypi_01")) < 0x80
        assert ingest.publish("tonypi/alerts/tonypi_01") < 0x80  # its alert announcements
        # a marker the console may read, published after everything it must not see
        assert console.publish("tonypi/commands/tonypi_01") < 0x80
        assert robot_a.wait_received(1) == [receipt_topic("tonypi_01")]
        assert robot_b.wait_received(1) == [receipt_topic("tonypi_02")]
        assert console.wait_received(2) == ["tonypi/alerts/tonypi_01",
                                            "tonypi/commands/tonypi_01"]
        # the command marker reaches robot A after any receipt that could have leaked
        robot_a.subscribe("tonypi/commands/tonypi_01")
        assert console.publish("tonypi/commands/tonypi_01") < 0x80
        assert robot_a.wait_received(2) == [receipt_topic("tonypi_01"),
                                            "tonypi/commands/tonypi_01"]
        robot_b.subscribe("tonypi/commands/tonypi_02")
        assert console.publish("tonypi/commands/tonypi_02") < 0x80
        assert robot_b.wait_received(2) == [receipt_topic("tonypi_02"),
                                            "tonypi/commands/tonypi_02"]
        assert console.wait_received(4)[2:] == ["tonypi/commands/tonypi_01",
                                                 "tonypi/commands/tonypi_02"]
    finally:
        for client in clients:
            client.close()
    log = (workdir / "mosquitto.log").read_text()
    assert "Error" not in log, log
