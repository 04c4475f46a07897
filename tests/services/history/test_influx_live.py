"""The InfluxDB history store against a real InfluxDB 2 server.

Runs only when TONYPI_TEST_INFLUX_URL is set (with TONYPI_TEST_INFLUX_TOKEN, _ORG and
_BUCKET; org and bucket default to tonypi and robot_metrics).  Every run writes under
a robot id of its own, so runs never see each other's points; the bucket's retention
policy removes them.  The times are recent (InfluxDB refuses points outside a bucket's
retention) and whole seconds, so the expected windows are exact.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from services.history.base import Bucket, SeriesKey, StoreError
from services.history.influx_store import InfluxHistoryStore
from services.wire.model import Measurement, Sample

URL = os.environ.get("TONYPI_TEST_INFLUX_URL", "")

pytestmark = [
    pytest.mark.influx_live,
    pytest.mark.skipif(not URL, reason="TONYPI_TEST_INFLUX_URL is not set"),
]


@pytest.fixture
def store() -> Iterator[InfluxHistoryStore]:
    store = InfluxHistoryStore(
        URL, os.environ.get("TONYPI_TEST_INFLUX_ORG", "tonypi"),
        os.environ.get("TONYPI_TEST_INFLUX_BUCKET", "robot_metrics"),
        os.environ.get("TONYPI_TEST_INFLUX_TOKEN", ""), write_timeout_s=15.0)
    yield store
    store.close()


@pytest.fixture
def robot_id() -> str:
    # Hostile on purpose: quotes, a Flux fragment, a space and a trailing backslash.
    return f'live-{uuid.uuid4().hex[:12]}") |> drop( \\'


@pytest.fixture
def t0() -> datetime:
    return (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)


def test_round_trip(store, robot_id, t0):
    samples = [Sample(Measurement.SERVOS, robot_id, t0 + timedelta(seconds=i),
                      {"temperature": 40.0 + i, "torque_enabled": i % 2 == 0},
                      {"servo_id": "servo_1", "unit": "C"}, seq=i) for i in range(10)]
    samples.append(Sample(Measurement.BATTERY, robot_id, t0, {"voltage": 11.7}))
    store.write(samples)
    store.write(samples)  # redelivery stores nothing twice
    buckets = store.query(robot_id, "servos", "temperature", t0, t0 + timedelta(seconds=10),
                          max_points=1, series="servo_1")
    assert buckets == [Bucket(start=t0, min=40.0, max=49.0, mean=44.5, count=10)]
    flags = store.query(robot_id, "servos", "torque_enabled", t0, t0 + timedelta(seconds=10),
                        max_points=2, series="servo_1")
    assert [(b.min, b.max, b.mean, b.count) for b in flags] == [(0.0, 1.0, 0.6, 5),
                                                                (0.0, 1.0, 0.4, 5)]
    assert store.list_fields(robot_id) == [
        SeriesKey("battery", "voltage"), SeriesKey("servos", "temperature", "servo_1"),
        SeriesKey("servos", "torque_enabled", "servo_1")]
    assert robot_id in store.list_robots()


def test_downsampling(store, robot_id, t0):
    store.write([Sample(Measurement.PERFORMANCE, robot_id, t0 + timedelta(seconds=i),
                        {"cpu_percent": 95.0 if i == 437 else float(i % 50)}, seq=i)
                 for i in range(600)])
    start = t0 + timedelta(seconds=7)  # windows align at start, not at the epoch
    buckets = store.query(robot_id, "performance", "cpu_percent", start,
                          start + timedelta(seconds=600), max_points=6)
    assert [b.start for b in buckets] == [start + timedelta(seconds=100 * k) for k in range(6)]
    assert [b.count for b in buckets] == [100, 100, 100, 100, 100, 93]
    assert [b.max for b in buckets] == [49.0, 49.0, 49.0, 49.0, 95.0, 49.0]
    assert all(b.min == 0.0 for b in buckets)


def test_a_wrong_token_is_refused(robot_id):
    store = InfluxHistoryStore(URL, os.environ.get("TONYPI_TEST_INFLUX_ORG", "tonypi"),
                               os.environ.get("TONYPI_TEST_INFLUX_BUCKET", "robot_metrics"),
                               "not-a-valid-token", write_timeout_s=15.0)
    try:
        with pytest.raises(StoreError, match="401"):
            store.write([Sample(Measurement.PERFORMANCE, robot_id, datetime.now(UTC),
                                {"cpu_percent": 1.0})])
    finally:
        store.close()
