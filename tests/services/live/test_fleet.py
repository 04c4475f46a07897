"""FleetState: buffers and snapshots from own and legacy messages, health, staleness,
offline and revival, with an injected clock."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest

from services.live import fleet as fleet_module
from services.live.fleet import FleetState
from services.live.health import Threshold
from services.live.model import Health, JobProgress, SignalKey
from services.wire.encode import encode
from services.wire.parse import parse_message
from tests.services.wire.legacy_samples import (
    JOB_EVENT_STARTED,
    JOB_PROGRESS,
    LEGACY_MESSAGES,
    RID,
)

T0 = 1_790_000_000.0  # 2026-09-21, an arbitrary epoch second
OWN = "tonypi_01"


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def at(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def own(kind: str, data: dict, t: float, robot_id: str = OWN, received: float | None = None,
        seq: int | None = 1):
    topic, payload = encode(kind, robot_id, seq, data, ts=at(t))
    return parse_message(topic, payload, at(t if received is None else received))


def legacy(topic: str, body: dict, received: float):
    return parse_message(topic, json.dumps(body).encode(), at(received))


def servos(*temperatures: float) -> dict:
    return {"servos": [{"id": i, "name": f"s{i}", "position": 10.0 * i, "temperature": temp,
                        "voltage": 7.4, "load": 5.0, "torque_enabled": i % 2 == 0}
                       for i, temp in enumerate(temperatures, start=1)]}


PERFORMANCE = {"cpu_percent": 20.0, "memory_percent": 30.0, "disk_percent": 40.0,
               "cpu_temperature": 50.0, "uptime_s": 100.0}
BATTERY = {"percentage": 80.0, "voltage": 11.8, "current": 1.5, "charging": True}
STATUS_ONLINE = {"status": "online", "emergency_stopped": False, "hardware_mode": "simulation"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fleet(clock) -> FleetState:
    return FleetState(clock=clock)


def test_own_messages_fill_buffers_and_the_snapshot(fleet, clock):
    fleet.apply(own("status", STATUS_ONLINE, T0, seq=None))
    for i in range(5):
        t = T0 + i
        fleet.apply(own("performance", {**PERFORMANCE, "cpu_percent": 20.0 + i}, t))
        fleet.apply(own("battery", {**BATTERY, "charging": i % 2 == 0}, t))
        fleet.apply(own("servos", servos(40.0, 55.5 + i, 30.0), t))
    clock.now = T0 + 4.2

    assert fleet.robot_ids() == [OWN]
    cpu = SignalKey(OWN, "performance", "cpu_percent")
    charging = SignalKey(OWN, "battery", "charging")
    torque = SignalKey(OWN, "servos", "torque_enabled", "servo_2")
    keys = fleet.signals(OWN)
    assert len(keys) == 5 + 4 + 3 * 5 and keys == sorted(keys)
    assert {cpu, charging, torque} <= set(keys)
    data = fleet.read([cpu, charging, torque, SignalKey(OWN, "nope", "nothing")])
    assert set(data) == {cpu, charging, torque}  # unknown keys are left out
    times, values = data[cpu]
    assert times.tolist() == [T0 + i for i in range(5)]
    assert values.tolist() == [20.0, 21.0, 22.0, 23.0, 24.0]
    assert data[charging][1].tolist() == [1.0, 0.0, 1.0, 0.0, 1.0]  # booleans as 0/1
    assert data[torque][1].tolist() == [1.0] * 5
    assert fleet.read([cpu], since=T0 + 3)[cpu][0].tolist() == [T0 + 3, T0 + 4]

    (snapshot,) = fleet.snapshots()
    assert snapshot.robot_id == OWN and snapshot.status == "online" and not snapshot.legacy
    assert snapshot.health is Health.OK and snapshot.reasons == ()
    assert snapshot.cpu_percent == 24.0 and snapshot.memory_percent == 30.0
    assert snapshot.cpu_temperature == 50.0
    assert snapshot.battery_percent == 80.0 and snapshot.battery_voltage == 11.8
    assert snapshot.hottest_servo == ("servo_2", 59.5)
    assert snapshot.last_seen == at(T0 + 4)
    assert fleet.newest_sample_time() == T0 + 4


def test_dirty_keys_and_latency_spans(fleet):
    assert fleet.take_dirty() == set()
    fleet.apply(own("performance", PERFORMANCE, T0))
    fleet.apply(own("performance", PERFORMANCE, T0 + 0.5))
    dirty = fleet.take_dirty()
    assert dirty == {SignalKey(OWN, "performance", name) for name in PERFORMANCE}
    cpu = SignalKey(OWN, "performance", "cpu_percent")
    unknown = SignalKey(OWN, "nothing", "here")
    assert fleet.latency_samples([cpu, unknown]) == {cpu: (T0, T0 + 0.5)}
    fleet.apply(own("performance", PERFORMANCE, T0 + 0.7))  # after the take: not in it
    assert fleet.latency_samples([cpu]) == {cpu: (T0, T0 + 0.5)}
    assert fleet.take_dirty() == {SignalKey(OWN, "performance", n) for n in PERFORMANCE}
    assert fleet.latency_samples([cpu]) == {cpu: (T0 + 0.7, T0 + 0.7)}
    assert fleet.take_dirty() == set() and fleet.latency_samples([cpu]) == {}
    fleet.apply(own("battery", {"percentage": 50.0}, T0 + 1))
    assert fleet.take_dirty() == {SignalKey(OWN, "battery", "percentage")}


def test_duplicates_and_stragglers_are_dropped_but_a_clock_reset_starts_over(fleet):
    key = SignalKey(OWN, "battery", "percentage")
    for t, value in ((T0, 1.0), (T0 + 1, 2.0), (T0 + 1, 2.0), (T0 + 0.5, 9.0), (T0 + 2, 3.0)):
        fleet.apply(own("battery", {"percentage": value}, t))
    assert fleet.read([key])[key][1].tolist() == [1.0, 2.0, 3.0]
    assert fleet.dropped_out_of_order == 2
    # The robot's clock went back by more than the window (e.g. NTP fixed it).
    fleet.apply(own("battery", {"percentage": 4.0}, T0 - 3600))
    assert fleet.read([key])[key][0].tolist() == [T0 - 3600]


def test_legacy_messages_register_a_legacy_robot(fleet, clock):
    received = T0 + 10
    for topic, body in LEGACY_MESSAGES.items():
        received += 0.001
        fleet.apply(legacy(topic, body, received))
    fleet.apply(legacy(f"tonypi/job/{RID}", JOB_EVENT_STARTED, received))
    fleet.apply(legacy(f"tonypi/job/{RID}", JOB_PROGRESS, received))
    clock.now = received + 1

    (snapshot,) = fleet.snapshots()
    assert snapshot.robot_id == RID and snapshot.legacy and snapshot.status == "online"
    # Legacy data is filed under the receive time.
    assert snapshot.last_seen == at(received)
    assert fleet.newest_sample_time() == pytest.approx(received - 0.002)  # vision, then no samples
    assert snapshot.battery_percent == 76.0 and snapshot.battery_voltage == 11.7
    assert snapshot.cpu_percent == 12.0  # pi_status came after status' system_info
    assert snapshot.hottest_servo == ("servo_2", 71.0)
    assert snapshot.job == JobProgress(task_name="sort_items", status="active", items_done=3,
                                       items_total=10, percent=30.0)
    assert snapshot.health is Health.WARN
    assert snapshot.reasons == ("servo_2 71.0 °C >= 60",)
    keys = set(fleet.signals(RID))
    assert SignalKey(RID, "sensors", "value", "ultrasonic_distance") in keys
    assert SignalKey(RID, "servos", "temperature", "servo_1") in keys
    assert SignalKey(RID, "location", "x") in keys


def test_command_responses_do_not_make_our_robot_legacy(fleet):
    fleet.apply(own("performance", PERFORMANCE, T0))
    fleet.apply(legacy("tonypi/commands/response",
                       {**LEGACY_MESSAGES["tonypi/commands/response"], "robot_id": OWN}, T0 + 1))
    (snapshot,) = fleet.snapshots(now=T0 + 1)
    assert not snapshot.legacy and snapshot.last_seen == at(T0 + 1)


def test_thresholds_and_emergency_reach_the_snapshot(clock):
    fleet = FleetState(clock=clock, thresholds={"servo_temp": Threshold(60, 75)})
    fleet.apply(own("servos", servos(40.0, 76.2, 61.0), T0))
    fleet.apply(own("performance", {**PERFORMANCE, "cpu_percent": 99.0}, T0))  # no cpu rule
    (snapshot,) = fleet.snapshots()
    assert snapshot.health is Health.ERROR
    assert snapshot.reasons == ("servo_2 76.2 °C >= 75", "servo_3 61.0 °C >= 60")

    fleet.set_thresholds({"cpu": Threshold(70, 90)})
    assert fleet.snapshots()[0].reasons == ("cpu 99.0 % >= 90",)
    fleet.apply(own("status", {**STATUS_ONLINE, "status": "emergency_stopped",
                               "emergency_stopped": True, "emergency_reason": "fell over"}, T0))
    snapshot = fleet.snapshots()[0]
    assert snapshot.status == "error" and snapshot.reasons[0] == "emergency stop: fell over"

    fleet.set_unacknowledged_alerts(OWN, 3)
    assert fleet.snapshots()[0].unacknowledged_alerts == 3


def test_expected_interval_is_learned_with_a_default_and_a_floor(fleet):
    key = SignalKey(OWN, "imu", "accel_x")
    assert fleet.expected_interval_s(key) == 5.0  # unknown
    fleet.apply(own("imu", {"accel_x": 0.0}, T0))
    assert fleet.expected_interval_s(key) == 5.0  # one sample shows no rate yet
    for i in range(1, 40):  # 100 Hz: intervals are measured over at least the floor
        fleet.apply(own("imu", {"accel_x": 0.0}, T0 + i * 0.01))
    assert 0.05 <= fleet.expected_interval_s(key) <= 0.0601
    for i in range(1, 20):  # then 2 Hz: the last 16 intervals decide
        fleet.apply(own("imu", {"accel_x": 0.0}, T0 + 1 + i * 0.5))
    assert fleet.expected_interval_s(key) == pytest.approx(0.5)


def test_one_update_from_two_sources_is_not_taken_for_a_fast_rate(fleet):
    key = SignalKey(OWN, "performance", "cpu_temperature")
    for i in range(6):  # every 5 s, from status and from sensors a few ms apart
        for offset in (0.0, 0.008):
            fleet.apply(own("performance", {"cpu_temperature": 50.0}, T0 + 5 * i + offset))
    assert fleet.expected_interval_s(key) == pytest.approx(5.0, abs=0.01)
    assert not fleet.is_stale(key, now=T0 + 25 + 14)


def test_a_1_hz_signal_is_stale_after_3_s_not_before(fleet, clock):
    key = SignalKey(OWN, "battery", "percentage")
    for i in range(10):
        clock.now = T0 + i
        fleet.apply(own("battery", {"percentage": 80.0}, T0 + i))
    last = T0 + 9
    assert fleet.expected_interval_s(key) == pytest.approx(1.0)
    for now, stale in ((last + 1, False), (last + 2.9, False), (last + 3.1, True)):
        clock.now = now
        assert fleet.is_stale(key) is stale
        assert fleet.signal_age_s(key) == pytest.approx(now - last)
        snapshot = fleet.snapshots()[0]
        assert snapshot.health is (Health.STALE if stale else Health.OK)
    assert snapshot.stale_signals == ("battery/percentage",)
    assert snapshot.reasons == ("battery/percentage stale for 3.1 s",)
    # Age counts from arrival: a robot whose clock is an hour behind is not stale.
    fleet.apply(own("battery", {"percentage": 80.0}, T0 - 3600, received=clock.now))
    assert not fleet.is_stale(key)


def test_last_will_makes_a_robot_offline_at_once_and_it_comes_back(fleet, clock):
    fleet.apply(own("status", STATUS_ONLINE, T0, seq=None))
    fleet.apply(own("performance", PERFORMANCE, T0))
    clock.now = T0 + 0.2
    assert fleet.snapshots()[0].health is Health.OK
    will = {**STATUS_ONLINE, "status": "offline"}
    fleet.apply(own("status", will, T0, received=T0 + 0.2, seq=None))
    snapshot = fleet.snapshots()[0]
    assert snapshot.health is Health.OFFLINE and snapshot.status == "offline"
    assert snapshot.reasons[0] == "went offline (last will or goodbye)"

    clock.now = T0 + 5
    fleet.apply(own("performance", PERFORMANCE, T0 + 5))  # data before its next status
    snapshot = fleet.snapshots()[0]
    assert snapshot.health is Health.OK and snapshot.status == "online"
    goodbye = {**will, "clean": True}  # what the agent says on a clean stop
    fleet.apply(own("status", goodbye, T0 + 6, seq=None))
    snapshot = fleet.snapshots(now=T0 + 6)[0]
    assert snapshot.health is Health.OFFLINE and snapshot.reasons[0] == "stopped cleanly"
    fleet.apply(own("status", STATUS_ONLINE, T0 + 7, seq=None))  # birth after reconnecting
    assert fleet.snapshots(now=T0 + 7)[0].health is Health.OK


def test_legacy_silence_goes_stale_then_offline_and_talking_revives(fleet, clock):
    topic = f"tonypi/sensors/{RID}"
    body = LEGACY_MESSAGES[topic]
    for i in range(5):
        fleet.apply(legacy(topic, body, T0 + i))
    last = T0 + 4
    expectations = ((last + 2.5, Health.OK), (last + 3.5, Health.STALE),
                    (last + 29.5, Health.STALE), (last + 30.5, Health.OFFLINE))
    for now, health in expectations:
        clock.now = now
        assert fleet.snapshots()[0].health is health, now - last
    assert fleet.snapshots()[0].reasons[0] == "silent for 30 s"
    fleet.apply(legacy(topic, body, clock.now))
    assert fleet.snapshots()[0].health is Health.OK


def test_mark_offline_holds_until_the_robot_talks_again(fleet, clock):
    fleet.apply(own("performance", PERFORMANCE, T0))
    fleet.mark_offline(OWN, at=T0 + 1)
    clock.now = T0 + 1
    assert fleet.snapshots()[0].health is Health.OFFLINE
    fleet.apply(own("performance", PERFORMANCE, T0 + 0.5))  # older than the mark: no
    assert fleet.snapshots()[0].health is Health.OFFLINE
    fleet.apply(own("performance", PERFORMANCE, T0 + 2))
    assert fleet.snapshots(now=T0 + 2)[0].health is Health.OK


def test_a_retained_status_registers_the_robot_as_of_its_own_time(fleet, clock):
    clock.now = T0 + 600
    fleet.apply(own("status", STATUS_ONLINE, T0, received=clock.now, seq=None), retained=True)
    (snapshot,) = fleet.snapshots()
    assert snapshot.last_seen == at(T0)
    assert snapshot.health is Health.OFFLINE  # the birth is 10 minutes old: nobody there
    fleet.apply(own("status", {**STATUS_ONLINE, "status": "offline"}, T0, received=clock.now,
                    seq=None, robot_id="tonypi_02"), retained=True)
    assert fleet.snapshots()[1].health is Health.OFFLINE


def test_robot_count_is_bounded(fleet, monkeypatch):
    monkeypatch.setattr(fleet_module, "MAX_ROBOTS", 2)
    for n in range(3):
        fleet.apply(own("performance", PERFORMANCE, T0, robot_id=f"tonypi_{n}"))
    assert fleet.robot_ids() == ["tonypi_0", "tonypi_1"]


def test_apply_and_reads_from_two_threads(fleet):
    key = SignalKey(OWN, "imu", "accel_x")
    messages = [own("imu", {"accel_x": float(i), "accel_y": 0.0}, T0 + i * 0.01)
                for i in range(3000)]
    failures: list[BaseException] = []

    def reader() -> None:
        try:
            while not done.is_set():
                for times, values in fleet.read([key]).values():
                    assert len(times) == len(values)
                    assert (times[1:] > times[:-1]).all()
                fleet.snapshots(now=T0)
                fleet.take_dirty()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    done = threading.Event()
    thread = threading.Thread(target=reader)
    thread.start()
    for message in messages:
        fleet.apply(message)
    done.set()
    thread.join(10)
    assert not failures
    assert fleet.read([key])[key][1].tolist() == [float(i) for i in range(3000)]
