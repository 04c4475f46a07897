"""LiveFeed against a real Mosquitto with real simulated agents (in-process and as a
process): robots appear, buffers fill, goodbye and last will mean OFFLINE at once, a
broker restart is survived, malformed payloads are counted."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot_agent.agent import Agent, build_agent
from robot_agent.config import load_config
from services.live.feed import FeedStats, LiveFeed, broker_status
from services.live.fleet import FleetState
from services.live.model import Health, SignalKey
from services.mqtt_session import MqttSession
from services.wire.encode import encode
from tests.support.pipeline import Publisher
from tests.support.processes import FAST_RATES_S, start_agent
from tests.support.waiting import wait_until

CONNECT_TIMEOUT_S = 10


class Console:
    """The console's live layer as the app wires it: one session, one fleet, one feed."""

    def __init__(self, port: int, offline_after_s: float = 30.0) -> None:
        self.session = MqttSession("127.0.0.1", port)
        self.fleet = FleetState(offline_after_s=offline_after_s)
        self.feed = LiveFeed(self.session, self.fleet)
        self.feed.start()
        self.session.start()
        assert self.session.wait_connected(CONNECT_TIMEOUT_S), "console did not connect"

    def health(self, robot_id: str) -> Health | None:
        snapshot = self.fleet.snapshot(robot_id)
        return None if snapshot is None else snapshot.health

    def points(self, key: SignalKey) -> int:
        data = self.fleet.read([key])
        return len(data[key][0]) if key in data else 0

    def close(self) -> None:
        self.feed.stop()
        self.session.stop()


@pytest.fixture
def console(mosquitto) -> Iterator[Console]:
    console = Console(mosquitto.port)
    yield console
    console.close()


def fast_agent(tmp_path: Path, port: int, robot_id: str, scenario: str = "normal") -> Agent:
    env = {f"TONYPI_AGENT_RATE_{kind.upper()}_S": str(rate) for kind, rate in FAST_RATES_S.items()}
    config = load_config(env=env, overrides={
        "robot_id": robot_id, "scenario": scenario, "simulate": True, "seed": 7,
        "mqtt_host": "127.0.0.1", "mqtt_port": port,
        "outbox_path": str(tmp_path / f"{robot_id}-outbox.db")})
    return build_agent(config)


def test_robots_appear_buffers_fill_and_a_goodbye_is_offline_at_once(tmp_path, mosquitto,
                                                                     console):
    agents = [fast_agent(tmp_path, mosquitto.port, "tonypi_live1", "overheating"),
              fast_agent(tmp_path, mosquitto.port, "tonypi_live2", "draining")]
    for agent in agents:
        agent.start()
    try:
        cpu = SignalKey("tonypi_live1", "performance", "cpu_percent")
        servo = SignalKey("tonypi_live2", "servos", "temperature", "servo_1")
        wait_until(lambda: console.fleet.robot_ids() == ["tonypi_live1", "tonypi_live2"],
                   message="both robots appear")
        wait_until(lambda: console.points(cpu) >= 20 and console.points(servo) >= 5,
                   message="buffers fill")
        snapshots = {s.robot_id: s for s in console.fleet.snapshots()}
        for snapshot in snapshots.values():
            assert snapshot.status == "online" and not snapshot.legacy
            assert snapshot.cpu_percent is not None and snapshot.battery_percent is not None
            assert snapshot.hottest_servo is not None
            assert snapshot.health in (Health.OK, Health.WARN, Health.ERROR), snapshot.reasons
        assert cpu in console.fleet.take_dirty()
        times, _ = console.fleet.read([cpu])[cpu]
        assert (times[1:] > times[:-1]).all()
        assert abs(times[-1] - time.time()) < 5  # the robots' own UTC timestamps
        stats = console.feed.stats()
        assert stats.state == "connected" and stats.next_retry_at is None
        assert stats.messages_per_s > 10 and stats.samples_per_s > stats.messages_per_s / 2
        assert stats.values_per_s > stats.samples_per_s
        assert stats.rejected_total == 0
        assert stats.newest_sample_age_s is not None and stats.newest_sample_age_s < 2
    finally:
        agents[0].stop()
    # The goodbye (a retained offline status) makes it OFFLINE long before 30 s of silence.
    stopped_at = time.monotonic()
    wait_until(lambda: console.health("tonypi_live1") is Health.OFFLINE, timeout_s=5,
               message="stopped agent is offline")
    assert time.monotonic() - stopped_at < 5
    assert console.fleet.snapshot("tonypi_live1").status == "offline"
    assert console.health("tonypi_live2") is not Health.OFFLINE

    # A console started after the robots learns of both from retained status messages.
    late = Console(mosquitto.port)
    try:
        wait_until(lambda: set(late.fleet.robot_ids()) == {"tonypi_live1", "tonypi_live2"},
                   timeout_s=5, message="late console sees both robots")
        assert late.health("tonypi_live1") is Health.OFFLINE
    finally:
        late.close()
        agents[1].stop()


def test_a_killed_agent_is_offline_at_once_by_its_last_will(tmp_path, mosquitto, console):
    program = start_agent("tonypi_killed", mosquitto.port, tmp_path)
    try:
        wait_until(lambda: console.health("tonypi_killed") in (Health.OK, Health.WARN),
                   timeout_s=30, message="agent process online")
        program.kill()  # SIGKILL: no goodbye, the broker publishes the last will
        killed_at = time.monotonic()
        wait_until(lambda: console.health("tonypi_killed") is Health.OFFLINE, timeout_s=5,
                   message="last will makes it offline")
        assert time.monotonic() - killed_at < 5
        assert console.fleet.snapshot("tonypi_killed").reasons[0] == (
            "went offline (last will or goodbye)")
    finally:
        program.stop()


def test_a_silent_legacy_robot_goes_stale_then_offline_on_time(mosquitto):
    console = Console(mosquitto.port, offline_after_s=2.0)
    publisher = Publisher(mosquitto.port)
    rid = "tonypi_legacy"
    body = {"robot_id": rid, "sensor_type": "ultrasonic_distance", "value": 42.5,
            "timestamp": "2026-01-21T07:24:04.123456", "unit": "cm"}
    try:
        for n in range(20):  # 10 Hz for 2 s, then silence (legacy robots have no will)
            if n:
                time.sleep(0.1)
            publisher.send(f"tonypi/sensors/{rid}", body)
        silent_from = time.monotonic()
        key = SignalKey(rid, "sensors", "value", "ultrasonic_distance")
        wait_until(lambda: console.points(key) == 20, timeout_s=5)
        assert console.fleet.snapshot(rid).legacy
        interval_s = console.fleet.expected_interval_s(key)
        assert 0.07 < interval_s < 0.15
        wait_until(lambda: console.health(rid) is Health.STALE, timeout_s=5, interval_s=0.01)
        stale_after = time.monotonic() - silent_from
        assert 3 * interval_s - 0.02 < stale_after < 3 * interval_s + 0.5
        assert console.fleet.signal_age_s(key) > 3 * interval_s
        wait_until(lambda: console.health(rid) is Health.OFFLINE, timeout_s=5, interval_s=0.01)
        offline_after = time.monotonic() - silent_from
        assert 1.95 < offline_after < 3.0
        publisher.send(f"tonypi/sensors/{rid}", body)  # it talks again: back
        wait_until(lambda: console.health(rid) is Health.OK, timeout_s=5, interval_s=0.01)
    finally:
        publisher.close()
        console.close()


def test_a_broker_restart_is_survived(tmp_path, mosquitto, console):
    agent = fast_agent(tmp_path, mosquitto.port, "tonypi_restart")
    agent.start()
    try:
        wait_until(lambda: console.feed.stats().messages_total > 20, message="data flows")
        mosquitto.stop()
        wait_until(lambda: console.feed.stats().state == "reconnecting", timeout_s=10,
                   message="console notices the outage")
        first_retry_at = console.feed.stats().next_retry_at
        assert first_retry_at is not None and first_retry_at > time.time() - 1
        # Stay down past the first attempt: a failed try must schedule the next one.
        wait_until(lambda: time.time() > first_retry_at + 0.5, timeout_s=40)
        stats = console.feed.stats()
        assert stats.state == "reconnecting"
        assert stats.next_retry_at is not None and stats.next_retry_at > first_retry_at
        before = stats.messages_total
        mosquitto.start()
        wait_until(lambda: console.feed.stats().state == "connected", timeout_s=40,
                   message="console reconnects")
        restarted_at = time.time()
        wait_until(lambda: (console.fleet.newest_sample_time() or 0) > restarted_at,
                   timeout_s=40, message="fresh samples after the restart")
        assert console.feed.stats().messages_total > before
        assert console.health("tonypi_restart") is not Health.OFFLINE
    finally:
        agent.stop()


def test_malformed_payloads_are_counted_not_raised(mosquitto, console):
    publisher = Publisher(mosquitto.port)
    try:
        publisher.send("tonypi/status/tonypi_bad", b"{not json")
        publisher.send("tonypi/performance/tonypi_bad", b'{"v": 1, "robot_id": "other", '
                       b'"seq": 1, "ts": "2026-11-22T10:00:00+00:00", "data": {}}')
        publisher.send("tonypi/performance/tonypi_bad", b'{"v": 1, "robot_id": "tonypi_bad", '
                       b'"seq": 1, "ts": "2026-11-22T10:00:00", "data": {}}')
        publisher.send("tonypi/performance/tonypi_bad", b'{"v": 1, "robot_id": "tonypi_bad", '
                       b'"seq": 2, "ts": "2026-11-22T10:00:00+00:00", '
                       b'"data": {"cpu_percent": NaN}}')
        topic, payload = encode("performance", "tonypi_bad", 3, {"cpu_percent": 12.0})
        publisher.send(topic, payload)
        wait_until(lambda: console.feed.stats().messages_total == 1, timeout_s=5,
                   message="the good message after the bad ones")
        stats = console.feed.stats()
        assert stats.rejected_total == 4
        assert stats.rejected_by_reason == {"bad_json": 2, "robot_id_mismatch": 1,
                                            "bad_field": 1}
        assert console.fleet.snapshot("tonypi_bad").cpu_percent == 12.0
        assert console.session.connected
    finally:
        publisher.close()


def test_stop_unsubscribes(mosquitto, console):
    console.feed.stop()
    # The broker handles one connection's packets in order: once a QoS 1 publish sent
    # after the UNSUBSCRIBEs is acknowledged, the broker has dropped the subscriptions.
    console.session.publish("tonypi/test/barrier", b"", qos=1).wait_for_publish(5)
    # QoS 1: send() returns once the broker has routed it (to nobody), not merely when it
    # left our socket, where it could still race the subscriptions of the restart below.
    publisher = Publisher(mosquitto.port, qos=1)
    try:
        topic, payload = encode("performance", "tonypi_quiet", 1, {"cpu_percent": 1.0})
        publisher.send(topic, payload)
        console.feed.start()
        wait_until(lambda: console.session.wait_connected(0), timeout_s=5)
        marker_topic, marker = encode("performance", "tonypi_marker", 1, {"cpu_percent": 1.0})
        deadline = time.monotonic() + 5
        while "tonypi_marker" not in console.fleet.robot_ids() and time.monotonic() < deadline:
            publisher.send(marker_topic, marker)
            time.sleep(0.1)
        assert "tonypi_marker" in console.fleet.robot_ids()
        assert "tonypi_quiet" not in console.fleet.robot_ids()
    finally:
        publisher.close()


def _stats(**overrides) -> FeedStats:
    values = dict(state="connected", next_retry_at=None, messages_total=0, samples_total=0,
                  values_total=0, rejected_total=0, messages_per_s=0.0, samples_per_s=0.0,
                  values_per_s=0.0, newest_sample_age_s=None, broker="lab:1883")
    values.update(overrides)
    return FeedStats(**values)


def test_broker_status_says_connected_but_silent_and_why_it_is_down():
    assert broker_status(_stats(silent_for_s=1.0), 100.0).line == "Broker: connected"
    silent = broker_status(_stats(silent_for_s=42.0), 100.0)
    assert (silent.level, silent.line, silent.banner) == (
        "warning", "Broker: connected, no data for 42 s", None)
    lost = broker_status(_stats(state="reconnecting", next_retry_at=104.0, down_since=70.0,
                                reason="connection refused by lab:1883"), 100.0)
    assert lost.level == "error" and lost.line == "Broker: reconnecting, next try in 4 s"
    assert lost.banner == ("No connection to the MQTT broker at lab:1883 for 30 s: "
                           "connection refused by lab:1883. Live data is not updating; "
                           "reconnecting, next try in 4 s.")
    refused = broker_status(_stats(state="reconnecting", next_retry_at=108.0, refused=True,
                                   reason="not authorised: bad credentials"), 100.0)
    assert refused.line == "Broker: login refused, next try in 8 s"
    assert "refuses the console: not authorised: bad credentials" in refused.banner
    starting = broker_status(_stats(state="connecting", down_since=99.0), 100.0)
    assert starting.banner is None  # a first connection takes milliseconds: no alarm yet


def test_a_cut_is_diagnosed_off_the_calling_thread(mosquitto):
    calls: list[str] = []

    def diagnose() -> tuple[bool, str]:
        calls.append(threading.current_thread().name)
        return False, "connection refused by the broker"

    session = MqttSession("127.0.0.1", mosquitto.port)
    feed = LiveFeed(session, FleetState(), diagnose=diagnose)
    feed.start()
    session.start()
    try:
        assert session.wait_connected(CONNECT_TIMEOUT_S)
        assert feed.stats().reason is None and calls == []
        mosquitto.stop()
        wait_until(lambda: feed.stats().reason == "connection refused by the broker",
                   message="diagnosis shown")
        assert calls == ["broker-diagnosis"]
        stats = feed.stats()
        assert stats.state == "reconnecting" and stats.down_since is not None
        mosquitto.start()
        wait_until(lambda: feed.stats().state == "connected", timeout_s=40,
                   message="reconnected")
        assert feed.stats().reason is None and feed.stats().silent_for_s is not None
    finally:
        feed.stop()
        session.stop()
