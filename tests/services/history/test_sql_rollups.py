"""Per-minute rollups of the SQL history store: exact answers, counted once, really used."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, func, select, text, update

from services.history.base import bucket_width_us
from services.history.sql_rollups import (
    ROLLUP_MIN_WIDTH_US,
    rollup_bucket_select,
    rollup_start_us,
    uses_rollups,
)
from services.history.sql_schema import ROLLUP_WIDTH_US, sample_rollups, samples
from services.history.sql_store import SqlHistoryStore, to_epoch_us
from services.records.migrate import upgrade
from services.wire.model import Measurement, Sample
from tests.services.history.support import T0, prepare_sql_schema, sample, seconds

MINUTE_US = 60_000_000
DATA_SPAN_US = 8 * 3600 * 1_000_000
SERVO = {"servo_id": "servo_1"}
Key = tuple[str, str, str, str]
CPU: Key = ("r1", "performance", "cpu_percent", "")
TEMP: Key = ("r1", "servos", "temperature", "servo_1")
OTHER: Key = ("r2", "performance", "cpu_percent", "")


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(db_url) -> Iterator[SqlHistoryStore]:
    prepare_sql_schema(db_url)
    store = SqlHistoryStore(db_url)
    yield store
    store.close()


def _sample(key: Key, ts_us: int, value: float, seq: int | None = None) -> Sample:
    robot_id, measurement, field, _series = key
    return sample(robot_id, T0 + timedelta(microseconds=ts_us - to_epoch_us(T0)),
                  Measurement(measurement), seq=seq, tags=SERVO if key == TEMP else None,
                  **{field: value})


def _random_points(rng: random.Random, n: int) -> list[tuple[Key, int, float]]:
    base = to_epoch_us(T0)
    points = []
    for _ in range(n):
        key = rng.choice([CPU, CPU, TEMP, OTHER])
        shape = rng.random()
        if shape < 0.1:  # on a minute boundary: first microsecond of a rollup
            ts = base + rng.randrange(0, DATA_SPAN_US, MINUTE_US)
        elif shape < 0.15:  # last microsecond of a rollup
            ts = base + rng.randrange(MINUTE_US, DATA_SPAN_US, MINUTE_US) - 1
        else:
            ts = base + rng.randrange(DATA_SPAN_US)
        points.append((key, ts, rng.uniform(-50.0, 150.0)))
    return points


def _oracle(stored: dict[tuple[Key, int], float], key: Key, start_us: int, stop_us: int,
            max_points: int) -> list[tuple[int, float, float, float, int]]:
    """Raw-only downsampling in Python: (start offset us, min, max, mean, count)."""
    width = -(-(stop_us - start_us) // max_points)
    buckets: dict[int, list[float]] = {}
    for (point_key, ts), value in stored.items():
        if point_key == key and start_us <= ts < stop_us:
            buckets.setdefault((ts - start_us) // width, []).append(value)
    return [(k * width, min(vs), max(vs), sum(vs) / len(vs), len(vs))
            for k, vs in sorted(buckets.items())]


def _answer(store: SqlHistoryStore, key: Key, start_us: int, stop_us: int,
            max_points: int) -> list[tuple[int, float, float, float, int]]:
    robot_id, measurement, field, series = key
    start = T0 + timedelta(microseconds=start_us - to_epoch_us(T0))
    stop = T0 + timedelta(microseconds=stop_us - to_epoch_us(T0))
    return [((b.start - start) // timedelta(microseconds=1), b.min, b.max, b.mean, b.count)
            for b in store.query(robot_id, measurement, field, start, stop, max_points,
                                 series=series)]


def _assert_same(got, want, context) -> None:
    assert [(o, lo, hi, n) for o, lo, hi, _, n in got] == \
        [(o, lo, hi, n) for o, lo, hi, _, n in want], context
    assert [m for *_, m, _ in got] == pytest.approx([m for *_, m, _ in want], rel=1e-9,
                                                    abs=1e-9), context


def _rollups_from_samples(db_url: str) -> tuple[list, list]:
    """(rollup rows, the same computed from raw samples) for comparison."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            stored = sorted(tuple(row) for row in conn.execute(select(sample_rollups)))
            raw = conn.execute(select(samples.c.robot_id, samples.c.measurement,
                                      samples.c.field, samples.c.series, samples.c.ts_us,
                                      samples.c.value)).all()
    finally:
        engine.dispose()
    parts: dict[tuple, list] = {}
    for robot_id, measurement, field, series, ts_us, value in raw:
        parts.setdefault((robot_id, measurement, field, series, rollup_start_us(ts_us)),
                         []).append(value)
    expected = sorted((*key, min(vs), max(vs), sum(vs), len(vs)) for key, vs in parts.items())
    return stored, expected


def _assert_rollups_consistent(db_url: str) -> None:
    stored, expected = _rollups_from_samples(db_url)
    assert [(*row[:7], row[8]) for row in stored] == [(*row[:7], row[8]) for row in expected]
    assert [row[7] for row in stored] == pytest.approx([row[7] for row in expected], rel=1e-9)


@pytest.mark.parametrize("seed", [20260101, 7])
def test_rollup_answers_equal_a_raw_computation(store, db_url, seed):
    rng = random.Random(seed)
    points = _random_points(rng, 3000)
    batches = [points[i:i + 250] for i in range(0, len(points), 250)]
    stored: dict[tuple[Key, int], float] = {}
    for batch in batches:
        store.write([_sample(key, ts, value) for key, ts, value in batch])
        for key, ts, value in batch:
            stored.setdefault((key, ts), value)  # ON CONFLICT keeps the first value
        again = rng.sample(batch, 40)  # redelivery of part of the batch
        store.write([_sample(key, ts, value) for key, ts, value in again])
    _assert_rollups_consistent(db_url)

    base = to_epoch_us(T0)
    aligned = [(base, base + 6 * 3600 * 1_000_000, 36),  # 10-minute buckets, no edges
               (base + MINUTE_US, base + DATA_SPAN_US - MINUTE_US, 1),
               (base - 3600 * 1_000_000, base + DATA_SPAN_US + 1, 7)]
    queries = list(aligned)
    for _ in range(60):
        # Mostly inside the data, so both ragged ends of a range hold points.
        start = base + rng.randrange(-1800 * 1_000_000, DATA_SPAN_US - 2 * MINUTE_US)
        if rng.random() < 0.3:
            start = rollup_start_us(start)
        stop = rng.randrange(start + MINUTE_US, base + DATA_SPAN_US + 1800 * 1_000_000)
        queries.append((start, stop, rng.choice([1, 2, 3, 4, 5, 7, 9, 12, 16, 500])))
    via_rollups = 0
    for start, stop, max_points in queries:
        width = -(-(stop - start) // max_points)
        via_rollups += uses_rollups(width)
        for key in (CPU, TEMP, OTHER):
            want = _oracle(stored, key, start, stop, max_points)
            _assert_same(_answer(store, key, start, stop, max_points), want,
                         (key, start, stop, max_points))
            raw_only = store.bucket_rows(*key, start, stop, width, rollups=False)
            _assert_same([(k * width, lo, hi, mean, n) for k, lo, hi, mean, n in raw_only],
                         want, ("raw", key, start, stop, max_points))
    assert via_rollups >= len(queries) // 2  # the comparison exercised the rollup path


def test_redelivery_leaves_rollup_counts_unchanged(store, db_url):
    batch = [sample("r1", T0 + seconds(7 * i), seq=i, cpu_percent=float(i % 13))
             for i in range(600)]  # 70 minutes
    store.write(batch)
    before, _ = _rollups_from_samples(db_url)
    long_range = store.query("r1", "performance", "cpu_percent", T0 - seconds(1),
                             T0 + timedelta(hours=3), max_points=5)
    store.write(batch)  # redelivered whole
    store.write(batch[100:200] + batch[150:160] + [
        sample("r1", T0 + seconds(7 * 600), seq=600, cpu_percent=99.0)])  # one new point
    after, _ = _rollups_from_samples(db_url)
    changed = [row for row in after if row not in before]
    assert len(after) == len(before) + 1 and len(changed) == 1  # only the new point's minute
    assert changed[0][4] == rollup_start_us(to_epoch_us(T0 + seconds(4200)))
    assert sum(row[8] for row in after) == 601
    _assert_rollups_consistent(db_url)
    again = store.query("r1", "performance", "cpu_percent", T0 - seconds(1),
                        T0 + timedelta(hours=3), max_points=5)
    assert sum(b.count for b in long_range) == 600 and sum(b.count for b in again) == 601
    assert store.stats().samples_written == 601


def test_long_ranges_are_answered_from_rollups(store):
    store.write([sample("r1", T0 + seconds(10 * i), cpu_percent=1.0) for i in range(360)])
    # Doctor one interior minute: only a query that reads the rollups can see it.
    with store.engine.begin() as conn:
        conn.execute(update(sample_rollups)
                     .where(sample_rollups.c.bucket_us == to_epoch_us(T0 + seconds(1800)))
                     .values(max=1e6))
    stop = T0 + seconds(3600)
    width_us = bucket_width_us(T0, stop, 2)
    assert width_us >= ROLLUP_MIN_WIDTH_US
    wide = store.query("r1", "performance", "cpu_percent", T0, stop, max_points=2)
    assert [b.max for b in wide] == [1.0, 1e6]
    raw = store.bucket_rows("r1", "performance", "cpu_percent", "", to_epoch_us(T0),
                            to_epoch_us(stop), width_us, rollups=False)
    assert [row[2] for row in raw] == [1.0, 1.0]
    narrow = store.query("r1", "performance", "cpu_percent", T0, stop, max_points=60)
    assert max(b.max for b in narrow) == 1.0  # one-minute buckets come from raw rows


def test_concurrent_writers_of_the_same_points_count_them_once(db_url):
    prepare_sql_schema(db_url)
    points = [sample("r1", T0 + seconds(3 * i), seq=i, cpu_percent=float(i)) for i in range(1200)]
    stores = [SqlHistoryStore(db_url) for _ in range(3)]
    errors: list[BaseException] = []

    def writer(store: SqlHistoryStore, order: int) -> None:
        try:
            for start in range(0, len(points), 100):
                chunk = points[start:start + 100]
                store.write(chunk if order == 0 else chunk[::-1])
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s, n % 2)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for store in stores:
        store.close()
    assert errors == []
    assert sum(s.stats().samples_written for s in stores) == 1200
    _assert_rollups_consistent(db_url)
    stored, _ = _rollups_from_samples(db_url)
    assert sum(row[8] for row in stored) == 1200


def test_migration_rolls_up_samples_stored_before_it(db_url):
    upgrade(db_url, "0003")
    base = to_epoch_us(T0)
    rows = [{"robot_id": "r1", "measurement": "performance", "field": "cpu_percent",
             "series": "", "ts_us": ts, "value": float(n), "seq": n}
            for n, ts in enumerate([base + 5, base + MINUTE_US - 1, base + MINUTE_US,
                                    base + 7 * MINUTE_US + 3, -MINUTE_US - 1, -1, 0])]
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(samples.insert(), rows)
    finally:
        engine.dispose()
    upgrade(db_url)
    stored, expected = _rollups_from_samples(db_url)
    assert stored == expected
    assert {row[4] for row in stored} == {base, base + MINUTE_US, base + 7 * MINUTE_US,
                                          -2 * MINUTE_US, -MINUTE_US, 0}


def test_rollup_table_layout(store, db_url):
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            ddl = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = "
                                    "'sample_rollups'")).scalar_one()
            assert "WITHOUT ROWID" in ddl.upper()
        count = conn.execute(select(func.count()).select_from(sample_rollups)).scalar_one()
    assert count == 0
    assert ROLLUP_WIDTH_US == MINUTE_US


def test_sqlite_rollup_query_plan_seeks_both_indexes(tmp_path):
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    prepare_sql_schema(url)
    store = SqlHistoryStore(url)
    store.write([sample("r1", T0 + seconds(30 * i), cpu_percent=float(i)) for i in range(200)])
    start, stop = to_epoch_us(T0) + 1, to_epoch_us(T0 + seconds(6000))
    width = -(-(stop - start) // 3)
    stmt = rollup_bucket_select("r1", "performance", "cpu_percent", "", start, stop, width,
                                lateral=False)
    compiled = stmt.compile(dialect=store.engine.dialect)
    params = compiled.construct_params()
    with store.engine.connect() as conn:
        plan = " | ".join(str(row[-1]) for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(compiled),
            tuple(params[name] for name in compiled.positiontup)).all())
    store.close()
    assert "SEARCH sample_rollups USING PRIMARY KEY" in plan, plan
    assert "SEARCH samples USING INDEX ux_samples_point" in plan, plan
