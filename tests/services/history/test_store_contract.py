"""Behaviour every HistoryStore must show: SQLite, PostgreSQL and InfluxDB alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from services.history.base import Bucket, HistoryStore, SeriesKey, StoreError, bucket_width_us
from services.wire.model import Measurement
from tests.services.history.support import T0, prepare_sql_schema, sample, seconds

PERF = Measurement.PERFORMANCE
SERVOS = Measurement.SERVOS
BATTERY = Measurement.BATTERY


def _sql_store(url: str) -> Iterator[HistoryStore]:
    from services.history.sql_store import SqlHistoryStore

    prepare_sql_schema(url)
    store = SqlHistoryStore(url)
    yield store
    store.close()


def _influx_store() -> Iterator[HistoryStore]:
    try:
        from services.history.influx_store import InfluxHistoryStore
        from tests.support.influx_emulator import InfluxEmulator
    except ImportError:
        pytest.skip("influx store not available yet")
    emu = InfluxEmulator()
    emu.start()
    try:
        store = InfluxHistoryStore(url=emu.url, org="tonypi", bucket="robot_metrics",
                                   token=emu.token)
        yield store
        store.close()
    finally:
        emu.stop()


@pytest.fixture(params=["sqlite", "postgres", "influx"])
def store(request, tmp_path) -> Iterator[HistoryStore]:
    if request.param == "sqlite":
        yield from _sql_store(f"sqlite:///{tmp_path / 'history.db'}")
    elif request.param == "postgres":
        yield from _sql_store(request.getfixturevalue("pg_url"))
    else:
        yield from _influx_store()


def _ramp(robot_id: str = "r1", n: int = 1000, step_s: float = 1.0, field: str = "cpu_percent",
          measurement: Measurement = PERF, tags: dict[str, str] | None = None,
          value=lambda i: float(i)):
    return [sample(robot_id, T0 + seconds(i * step_s), measurement, seq=i, tags=tags,
                   **{field: value(i)})
            for i in range(n)]


def test_buckets_carry_min_max_mean_count(store):
    store.write(_ramp())
    buckets = store.query("r1", "performance", "cpu_percent", T0, T0 + seconds(1000),
                          max_points=10)
    assert buckets == [
        Bucket(start=T0 + seconds(100 * k), min=100.0 * k, max=100.0 * k + 99,
               mean=pytest.approx(100.0 * k + 49.5), count=100)
        for k in range(10)
    ]


def test_a_single_spike_survives_downsampling(store):
    store.write(_ramp(n=600, value=lambda i: 95.0 if i == 437 else 20.0))
    buckets = store.query("r1", "performance", "cpu_percent", T0, T0 + seconds(600),
                          max_points=6)
    assert [b.max for b in buckets] == [20.0, 20.0, 20.0, 20.0, 95.0, 20.0]
    assert all(b.min == 20.0 for b in buckets)
    assert sum(b.count for b in buckets) == 600


@pytest.mark.parametrize("max_points", [1, 7, 500])
def test_max_points_holds_over_a_long_range(store, max_points):
    store.write(_ramp(n=3000, step_s=120.0))  # about 4 days
    start, stop = T0 - timedelta(days=1), T0 + timedelta(days=30)
    buckets = store.query("r1", "performance", "cpu_percent", start, stop,
                          max_points=max_points)
    assert 0 < len(buckets) <= max_points
    assert sum(b.count for b in buckets) == 3000
    assert min(b.min for b in buckets) == 0.0 and max(b.max for b in buckets) == 2999.0
    width = timedelta(microseconds=bucket_width_us(start, stop, max_points))
    starts = [b.start for b in buckets]
    assert starts == sorted(set(starts))
    assert all((s - start) % width == timedelta(0) for s in starts)  # start + k * width


def test_empty_range_gives_no_buckets(store):
    store.write(_ramp(n=10))
    assert store.query("r1", "performance", "cpu_percent", T0 + seconds(3600),
                       T0 + seconds(7200)) == []
    assert store.query("nobody", "performance", "cpu_percent", T0, T0 + seconds(10)) == []
    assert store.query("r1", "performance", "no_such_field", T0, T0 + seconds(10)) == []


def test_series_tag_separates_servos(store):
    store.write(_ramp(n=50, measurement=SERVOS, field="temperature",
                      tags={"servo_id": "servo_1"}, value=lambda i: 40.0))
    store.write(_ramp(n=30, measurement=SERVOS, field="temperature",
                      tags={"servo_id": "servo_2"}, value=lambda i: 60.0))
    one = store.query("r1", "servos", "temperature", T0, T0 + seconds(50), max_points=1,
                      series="servo_1")
    two = store.query("r1", "servos", "temperature", T0, T0 + seconds(50), max_points=1,
                      series="servo_2")
    assert [(b.min, b.max, b.count) for b in one] == [(40.0, 40.0, 50)]
    assert [(b.min, b.max, b.count) for b in two] == [(60.0, 60.0, 30)]


def test_same_field_in_two_measurements_does_not_mix(store):
    store.write(_ramp(n=20, measurement=PERF, field="temperature", value=lambda i: 55.0))
    store.write(_ramp(n=20, measurement=BATTERY, field="temperature", value=lambda i: 30.0))
    perf = store.query("r1", "performance", "temperature", T0, T0 + seconds(20), max_points=1)
    batt = store.query("r1", "battery", "temperature", T0, T0 + seconds(20), max_points=1)
    assert [(b.mean, b.count) for b in perf] == [(55.0, 20)]
    assert [(b.mean, b.count) for b in batt] == [(30.0, 20)]


def test_robots_do_not_mix(store):
    store.write(_ramp("alpha", n=20, value=lambda i: 1.0)
                + _ramp("beta", n=10, value=lambda i: 2.0))
    alpha = store.query("alpha", "performance", "cpu_percent", T0, T0 + seconds(20), 1)
    beta = store.query("beta", "performance", "cpu_percent", T0, T0 + seconds(20), 1)
    assert [(b.mean, b.count) for b in alpha] == [(1.0, 20)]
    assert [(b.mean, b.count) for b in beta] == [(2.0, 10)]


def test_duplicates_are_stored_once(store):
    batch = _ramp(n=10)
    store.write(batch)
    store.write(batch)  # redelivery after a lost acknowledgement
    store.write([batch[3], batch[3], sample("r1", T0 + seconds(10), seq=10, cpu_percent=10.0),
                 sample("r1", T0 + seconds(10), seq=10, cpu_percent=10.0)])
    buckets = store.query("r1", "performance", "cpu_percent", T0, T0 + seconds(11), 1)
    assert [(b.count, b.min, b.max, b.mean) for b in buckets] == [(11, 0.0, 10.0, 5.0)]


HOSTILE_IDS = ['x") |> drop(columns: ["_value"]) //', "a'; DROP TABLE samples;--",
               'r"1\\', "ロボット-ü-🤖"]


def test_hostile_robot_ids_are_data(store):
    store.write(_ramp("plain", n=5))
    for robot_id in HOSTILE_IDS:
        store.write(_ramp(robot_id, n=5, value=lambda i: 7.0))
    for robot_id in HOSTILE_IDS:
        buckets = store.query(robot_id, "performance", "cpu_percent", T0, T0 + seconds(5), 1)
        assert [(b.mean, b.count) for b in buckets] == [(7.0, 5)], robot_id
        assert store.list_fields(robot_id) == [SeriesKey("performance", "cpu_percent")]
    assert store.list_robots() == sorted([*HOSTILE_IDS, "plain"])
    plain = store.query("plain", "performance", "cpu_percent", T0, T0 + seconds(5), 1)
    assert [b.count for b in plain] == [5]  # nothing was dropped along the way


def test_list_robots_and_fields(store):
    assert store.list_robots() == []
    store.write([
        sample("r2", T0, PERF, cpu_percent=1.0, memory_percent=2.0),
        sample("r1", T0, SERVOS, tags={"servo_id": "servo_2"}, temperature=40.0),
        sample("r1", T0, SERVOS, tags={"servo_id": "servo_1"}, temperature=41.0, voltage=7.4),
        sample("r1", T0 + seconds(1), BATTERY, percentage=80.0, charging=True),
    ])
    assert store.list_robots() == ["r1", "r2"]
    assert store.list_fields("r1") == [
        SeriesKey("battery", "charging"), SeriesKey("battery", "percentage"),
        SeriesKey("servos", "temperature", "servo_1"),
        SeriesKey("servos", "temperature", "servo_2"),
        SeriesKey("servos", "voltage", "servo_1"),
    ]
    assert store.list_fields("r2") == [SeriesKey("performance", "cpu_percent"),
                                       SeriesKey("performance", "memory_percent")]
    assert store.list_fields("nobody") == []


def test_booleans_are_stored_as_zero_and_one(store):
    store.write([sample("r1", T0 + seconds(i), BATTERY, charging=i % 2 == 1) for i in range(4)])
    buckets = store.query("r1", "battery", "charging", T0, T0 + seconds(4), max_points=2)
    assert [(b.min, b.max, b.mean, b.count) for b in buckets] == [(0.0, 1.0, 0.5, 2)] * 2


def test_bucket_starts_are_aware_utc(store):
    store.write(_ramp(n=100))
    plus_two = timezone(timedelta(hours=2))
    start = T0.astimezone(plus_two)  # same instant, other offset
    buckets = store.query("r1", "performance", "cpu_percent", start, start + seconds(100), 4)
    assert [b.start for b in buckets] == [T0 + seconds(25 * k) for k in range(4)]
    assert all(b.start.utcoffset() == timedelta(0) for b in buckets)


def test_naive_datetimes_are_rejected(store):
    naive = datetime(2026, 1, 1)
    with pytest.raises((ValueError, StoreError)):
        store.query("r1", "performance", "cpu_percent", naive, naive + seconds(10))
    with pytest.raises((ValueError, StoreError)):
        store.write([sample("r1", naive, cpu_percent=1.0)])
    assert store.query("r1", "performance", "cpu_percent", T0 - timedelta(days=1),
                       T0 + timedelta(days=1)) == []


def test_start_is_inclusive_and_stop_exclusive(store):
    store.write(_ramp(n=10))
    buckets = store.query("r1", "performance", "cpu_percent", T0 + seconds(2),
                          T0 + seconds(5), max_points=1)
    assert [(b.start, b.min, b.max, b.count) for b in buckets] == [
        (T0 + seconds(2), 2.0, 4.0, 3)]


def test_utc_in_other_offsets_is_the_same_instant(store):
    local = timezone(timedelta(hours=-5))
    store.write([sample("r1", (T0 + seconds(i)).astimezone(local), cpu_percent=float(i))
                 for i in range(3)])
    buckets = store.query("r1", "performance", "cpu_percent", T0, T0 + seconds(3), 3)
    assert [(b.start, b.min) for b in buckets] == [(T0 + seconds(i), float(i)) for i in range(3)]
    assert all(b.start.tzinfo is not None for b in buckets)
