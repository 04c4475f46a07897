"""The InfluxDB history store against the InfluxDB v2 emulator."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from services.history import influx_flux as flux
from services.history.base import SeriesKey, StoreError
from services.history.influx_line import UnencodableSampleError, encode_sample, from_tag_value
from services.history.influx_store import InfluxHistoryStore
from services.wire.model import Measurement, Sample
from tests.support.influx_emulator import InfluxEmulator
from tests.support.influx_line_protocol import parse_line
from tests.support.servers import free_port
from tests.support.waiting import wait_until

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T0_NS = 1_767_225_600_000_000_000

HOSTILE = ['x") |> drop(columns: ["_value"]) //', "a,b=c d", "back\\slash", "tail\\",
           "tail\\_", "a\\,b", "=", "ü 🤖", '"', "#x"]


@pytest.fixture
def emulator() -> Iterator[InfluxEmulator]:
    emu = InfluxEmulator().start()
    yield emu
    emu.stop()


@pytest.fixture
def make_store(emulator) -> Iterator:
    stores: list[InfluxHistoryStore] = []

    def make(url: str | None = None, token: str | None = None, **options) -> InfluxHistoryStore:
        store = InfluxHistoryStore(url or emulator.url, "tonypi", "robot_metrics",
                                   token or emulator.token, **options)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store) -> InfluxHistoryStore:
    return make_store(write_timeout_s=5.0)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def sample(robot_id: str, at: datetime, measurement: Measurement = Measurement.PERFORMANCE,
           seq: int | None = None, tags: dict[str, str] | None = None,
           **fields: float | bool) -> Sample:
    return Sample(measurement=measurement, robot_id=robot_id, time=at, fields=fields,
                  tags=tags or {}, seq=seq)


def servo(robot_id: str, i: int, servo_id: str = "servo_1", **fields) -> Sample:
    return sample(robot_id, T0 + seconds(i), Measurement.SERVOS, seq=i,
                  tags={"servo_id": servo_id, "unit": "deg"}, **fields)


# -- encoding ------------------------------------------------------------------------

def test_a_sample_becomes_one_typed_line():
    line, dropped = encode_sample(servo("r1", 0, position=12, torque_enabled=True))
    assert dropped == ()
    assert line == (b"servos,robot_id=r1,servo_id=servo_1,unit=deg "
                    b"position=12.0,torque_enabled=true,seq=0i " + str(T0_NS).encode())
    point = parse_line(line.decode(), "ns", 0)
    assert point.fields == {"position": 12.0, "torque_enabled": True, "seq": 0}
    assert isinstance(point.fields["seq"], int) and isinstance(point.fields["position"], float)


def test_microseconds_survive_in_nanosecond_precision():
    at = T0 + timedelta(microseconds=123457)
    line, _ = encode_sample(sample("r1", at, cpu_percent=1.0))
    assert parse_line(line.decode(), "ns", 0).time_ns == T0_NS + 123_457_000


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_tag_values_parse_back_as_themselves(value):
    line, _ = encode_sample(sample(value, T0, Measurement.SENSORS,
                                   tags={"sensor_type": value}, **{"odd key,=": 1.0}))
    point = parse_line(line.decode(), "ns", 0)
    assert {key: from_tag_value(v) for key, v in point.tags.items()} == {
        "robot_id": value, "sensor_type": value}
    assert point.fields == {"odd key,=": 1.0}


@pytest.mark.parametrize(("bad", "reason"), [
    (sample("line\nbreak", T0, cpu_percent=1.0), "line break"),
    (sample("r1", T0, tags={"robot_id": "x"}, cpu_percent=1.0), "reserved tag key"),
    (sample("r1", T0, tags={"key\\": "x"}, cpu_percent=1.0), "ends with a backslash"),
    (sample("r1", T0, tags={"": "x"}, cpu_percent=1.0), "empty tag key"),
    (sample("r1", T0, seq=2**63), "outside int64"),
    (sample("r1", T0, cpu_percent=float("nan")), "no storable fields"),
])
def test_what_line_protocol_cannot_carry_is_refused(bad, reason):
    with pytest.raises(UnencodableSampleError, match=reason):
        encode_sample(bad)


def test_reserved_and_odd_fields_are_left_out_by_name():
    fields = {"time": 1.0, "ok": 2.0, "seq": 5.0, "text": "x"}
    line, dropped = encode_sample(Sample(Measurement.IMU, "r1", T0, fields, seq=-3))
    assert sorted(dropped) == ["seq", "text", "time"]
    assert parse_line(line.decode(), "ns", 0).fields == {"ok": 2.0, "seq": -3}


def test_unstorable_values_are_refused_and_counted(store, emulator, caplog):
    caplog.set_level(logging.WARNING, logger="services.history.influx_store")
    store.write([
        sample("r1", T0, cpu_percent=float("nan"), memory_percent=5.0),
        sample("line\nbreak", T0, cpu_percent=1.0),
        sample("r1", T0 + seconds(1), cpu_percent=float("inf")),
        sample("r2", T0, cpu_percent=2.0),
    ])
    assert sorted((p.tags["robot_id"], p.fields.get("memory_percent", p.fields.get(
        "cpu_percent"))) for p in emulator.points) == [("r1", 5.0), ("r2", 2.0)]
    stats = store.stats()
    assert (stats.samples_rejected, stats.fields_dropped) == (2, 1)  # the inf one: rejected
    assert "line break" in caplog.text and "left out: cpu_percent" in caplog.text


def test_naive_timestamps_raise_and_write_nothing(store, emulator):
    with pytest.raises(ValueError, match="naive"):
        store.write([sample("r1", T0, cpu_percent=1.0),
                     sample("r1", datetime(2026, 1, 1), cpu_percent=2.0)])
    assert emulator.write_requests == 0


# -- writing -------------------------------------------------------------------------

def test_round_trip_points_queries_and_listings(store, emulator):
    store.write([servo("r1", i, position=float(i), torque_enabled=i % 2 == 0) for i in range(10)]
                + [servo("r1", i, "servo_2", position=-1.0) for i in range(3)]
                + [sample("r2", T0, Measurement.BATTERY, percentage=80.0, charging=True)])
    first = emulator.points[0]
    assert (first.measurement, first.tags, first.fields, first.time_ns) == (
        "servos", {"robot_id": "r1", "servo_id": "servo_1", "unit": "deg"},
        {"position": 0.0, "seq": 0, "torque_enabled": True}, T0_NS)
    buckets = store.query("r1", "servos", "position", T0, T0 + seconds(10), max_points=3,
                          series="servo_1")
    assert [(b.start, b.min, b.max, b.mean, b.count) for b in buckets] == [
        (T0, 0.0, 3.0, 1.5, 4),
        (T0 + timedelta(microseconds=3_333_334), 4.0, 6.0, 5.0, 3),
        (T0 + timedelta(microseconds=6_666_668), 7.0, 9.0, 8.0, 3),
    ]
    assert store.list_robots() == ["r1", "r2"]
    assert store.list_fields("r1") == [
        SeriesKey("servos", "position", "servo_1"), SeriesKey("servos", "position", "servo_2"),
        SeriesKey("servos", "torque_enabled", "servo_1")]  # seq is bookkeeping, not listed
    assert store.list_fields("r2") == [SeriesKey("battery", "charging"),
                                       SeriesKey("battery", "percentage")]
    assert store.stats().lines_written == 14


def test_empty_windows_are_omitted(store):
    store.write([sample("r1", T0 + seconds(s), cpu_percent=float(s)) for s in (0, 1, 95, 99)])
    buckets = store.query("r1", "performance", "cpu_percent", T0, T0 + seconds(100), 10)
    assert [(b.start, b.count) for b in buckets] == [(T0, 2), (T0 + seconds(90), 2)]


def test_write_returns_only_after_influxdb_confirmed(store, emulator):
    emulator.write_delay_s = 0.4
    began = time.monotonic()
    store.write([sample("r1", T0 + seconds(i), cpu_percent=float(i)) for i in range(5)])
    assert time.monotonic() - began >= 0.4
    assert len(emulator.points) == 5  # no polling: already stored when write() returned


def test_large_writes_span_several_batches(make_store, emulator):
    store = make_store(batch_size=7, write_timeout_s=5.0)
    store.write([sample("r1", T0 + seconds(i), cpu_percent=float(i)) for i in range(50)])
    assert len(emulator.points) == 50 and emulator.write_requests >= 8
    assert store.stats().lines_written == 50


def test_identical_lines_in_concurrent_writes_all_return(store, emulator):
    batch = [sample("r1", T0 + seconds(i), cpu_percent=1.0) for i in range(20)]
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            store.write(batch + batch[:5])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == [] and not any(thread.is_alive() for thread in threads)
    assert len(emulator.points) == 20  # the same point, written many times, is one point
    assert store.stats().lines_written == 100


def test_injected_503s_are_retried_and_succeed(store, emulator, caplog):
    caplog.set_level(logging.WARNING, logger="services.history.influx_store")
    emulator.fail_next_writes(2, status=503)
    store.write([sample("r1", T0, cpu_percent=1.0)])
    assert len(emulator.points) == 1
    assert emulator.write_requests == 3
    assert (store.stats().retries, store.stats().batches_failed) == (2, 0)
    assert "retrying" in caplog.text


def test_a_rejected_batch_raises_is_counted_and_logged(store, emulator, caplog):
    caplog.set_level(logging.ERROR, logger="services.history.influx_store")
    emulator.fail_next_writes(1, status=400, message="unable to parse: injected")
    with pytest.raises(StoreError, match="injected") as caught:
        store.write([sample("r1", T0 + seconds(i), cpu_percent=1.0) for i in range(3)])
    assert emulator.url in str(caught.value)
    stats = store.stats()
    assert (stats.batches_failed, stats.lines_failed, stats.lines_written) == (1, 3, 0)
    assert emulator.points == []
    assert any(r.levelno == logging.ERROR and "3 line(s)" in r.getMessage()
               for r in caplog.records if r.name == "services.history.influx_store")
    store.write([sample("r1", T0, cpu_percent=1.0)])  # the store stays usable
    assert len(emulator.points) == 1


def test_one_failed_batch_fails_the_whole_write(make_store, emulator):
    store = make_store(batch_size=2, write_timeout_s=5.0)
    emulator.fail_next_writes(1, status=422, after=1)  # the first batch goes through
    with pytest.raises(StoreError, match="422"):
        store.write([sample("r1", T0 + seconds(i), cpu_percent=1.0) for i in range(4)])
    assert len(emulator.points) == 2 and emulator.write_requests == 2
    assert (store.stats().lines_written, store.stats().lines_failed) == (2, 2)


def test_a_dead_url_raises_within_the_timeout(make_store):
    url = f"http://127.0.0.1:{free_port()}"
    store = make_store(url=url, token="secret-token-123", write_timeout_s=0.6)
    began = time.monotonic()
    with pytest.raises(StoreError) as caught:
        store.write([sample("r1", T0, cpu_percent=1.0)])
    assert time.monotonic() - began < 1.5
    assert url in str(caught.value) and "secret-token-123" not in str(caught.value)
    with pytest.raises(StoreError, match=url):
        store.list_robots()
    store.close()  # the batch still retrying ends within the timeout as well
    wait_until(lambda: store.stats().batches_failed == 1, timeout_s=5,
               message="the dropped batch is reported")
    assert store.stats().retries >= 1


def test_a_wrong_token_is_a_store_error_without_the_token(make_store, emulator):
    store = make_store(token="not-the-token", write_timeout_s=5.0)
    with pytest.raises(StoreError, match="401") as caught:
        store.write([sample("r1", T0, cpu_percent=1.0)])
    assert "not-the-token" not in str(caught.value)
    with pytest.raises(StoreError, match="401") as caught:
        store.query("r1", "performance", "cpu_percent", T0, T0 + seconds(1))
    assert "not-the-token" not in str(caught.value)
    assert emulator.points == []


def test_query_failures_are_store_errors(store, emulator):
    emulator.fail_next_queries(1, status=500)
    with pytest.raises(StoreError, match=emulator.url):
        store.list_fields("r1")
    assert store.list_fields("r1") == []


def test_close_releases_connections_and_later_writes_raise(make_store, emulator):
    store = make_store()
    store.write([sample("r1", T0, cpu_percent=1.0)])
    assert store.list_robots() == ["r1"]
    assert emulator.open_connections >= 1
    store.close()
    wait_until(lambda: emulator.open_connections == 0, timeout_s=5,
               message="the store's keep-alive connections are closed")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.write([sample("r1", T0, cpu_percent=1.0)])


# -- parameters, never code -----------------------------------------------------------

@pytest.mark.parametrize("robot_id", HOSTILE)
def test_hostile_robot_ids_round_trip_as_parameters(store, emulator, robot_id):
    store.write([sample(robot_id, T0 + seconds(i), cpu_percent=7.0) for i in range(3)]
                + [sample("plain", T0, cpu_percent=1.0)])
    buckets = store.query(robot_id, "performance", "cpu_percent", T0, T0 + seconds(3), 1)
    assert [(b.mean, b.count) for b in buckets] == [(7.0, 3)]
    assert store.list_fields(robot_id) == [SeriesKey("performance", "cpu_percent")]
    assert store.list_robots() == sorted([robot_id, "plain"])
    bodies = [body for body in emulator.query_bodies if flux.P_ROBOT_ID in str(body["extern"])]
    assert len(bodies) == 2
    for body in bodies:
        assert body["query"] in flux.TEMPLATES  # the text never changes
        literals = {statement["assignment"]["id"]["name"]: statement["assignment"]["init"]
                    for statement in body["extern"]["body"]}
        assert literals[flux.P_ROBOT_ID]["type"] == "StringLiteral"
        assert literals[flux.P_ROBOT_ID]["value"].startswith(robot_id)
