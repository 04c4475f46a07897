"""Downsampling is exact: every store's buckets equal a brute-force Python computation.

Random data and random queries (seeded, so a failure reproduces), with points placed
exactly on bucket edges, on the start and on the (exclusive) stop of queries, on whole
minutes (the SQL store's rollup boundaries), next to neighbouring robots and fields that
must not leak in, and robot ids that are Flux or SQL syntax.  min, max, count and bucket
starts must match exactly; the mean up to float summation order.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from services.history.base import HistoryStore, bucket_width_us
from tests.services.history.support import T0, sample
from tests.services.history.test_store_contract import _influx_store, _sql_store

SEED = 20260101
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DATA_SPAN_US = 2 * 86_400 * 1_000_000  # two days: wide enough for the rollup path too
MINUTE_US = 60_000_000
ROBOTS = ("r1", 'x") |> drop(columns: ["_value"]) //', "a'; DROP TABLE samples;--")
FIELD, OTHER_FIELD = "cpu_percent", "memory_percent"
RANDOM_POINTS_PER_ROBOT = 300
QUERIES_PER_ROBOT = 12
MAX_POINTS_CHOICES = (1, 2, 3, 7, 10, 64, 500, 1600)
MEAN_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Query:
    robot_id: str
    start_us: int
    stop_us: int
    max_points: int


def at(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


T0_US = (T0 - EPOCH) // timedelta(microseconds=1)


@pytest.fixture(params=["sqlite", "postgres", "influx"])
def store(request, tmp_path) -> Iterator[HistoryStore]:
    if request.param == "sqlite":
        yield from _sql_store(f"sqlite:///{tmp_path / 'history.db'}")
    elif request.param == "postgres":
        yield from _sql_store(request.getfixturevalue("pg_url"))
    else:
        yield from _influx_store()


def random_query(rng: random.Random, robot_id: str) -> Query:
    """A range somewhere around the data: microsecond, second or minute aligned."""
    span_us = int(10 ** rng.uniform(6, 11.5))  # 1 s .. about 3.7 days
    start_us = T0_US + rng.randrange(-3_600_000_000, DATA_SPAN_US)
    alignment = rng.choice((1, 1_000_000, MINUTE_US))
    start_us -= start_us % alignment
    return Query(robot_id, start_us, start_us + span_us, rng.choice(MAX_POINTS_CHOICES))


def edge_times(query: Query) -> set[int]:
    """Timestamps where off-by-one bugs live: bucket starts, and just before them."""
    width = bucket_width_us(at(query.start_us), at(query.stop_us), query.max_points)
    times = {query.start_us, query.stop_us, query.stop_us - 1}
    for k in range(1, min(query.max_points, 20)):
        times |= {query.start_us + k * width, query.start_us + k * width - 1}
    return times


def expected(points: dict[int, float], query: Query) -> list[tuple]:
    width = bucket_width_us(at(query.start_us), at(query.stop_us), query.max_points)
    groups: dict[int, list[float]] = {}
    for ts_us, value in points.items():
        if query.start_us <= ts_us < query.stop_us:
            groups.setdefault((ts_us - query.start_us) // width, []).append(value)
    return [(at(query.start_us + k * width), min(vs), max(vs), sum(vs) / len(vs), len(vs))
            for k, vs in sorted(groups.items())]


def actual(store: HistoryStore, query: Query, field: str = FIELD) -> list[tuple]:
    buckets = store.query(query.robot_id, "performance", field, at(query.start_us),
                          at(query.stop_us), max_points=query.max_points)
    return [(b.start, b.min, b.max, b.mean, b.count) for b in buckets]


def assert_same(got: list[tuple], want: list[tuple], query: Query) -> None:
    context = f"{query} -> got {len(got)} buckets, want {len(want)}"
    assert [(s, lo, hi, n) for s, lo, hi, _, n in got] == \
        [(s, lo, hi, n) for s, lo, hi, _, n in want], context
    assert [mean for *_, mean, _ in got] == pytest.approx(
        [mean for *_, mean, _ in want], rel=MEAN_TOLERANCE, abs=MEAN_TOLERANCE), context


def build_data(rng: random.Random) -> tuple[dict[str, dict[int, float]], list[Query]]:
    """Queries first, so that the data can put points on their edges."""
    queries = [random_query(rng, robot_id) for robot_id in ROBOTS
               for _ in range(QUERIES_PER_ROBOT)]
    data: dict[str, dict[int, float]] = {}
    for robot_id in ROBOTS:
        times = {T0_US + rng.randrange(DATA_SPAN_US) for _ in range(RANDOM_POINTS_PER_ROBOT)}
        times |= {T0_US + rng.randrange(DATA_SPAN_US // MINUTE_US) * MINUTE_US
                  for _ in range(RANDOM_POINTS_PER_ROBOT // 5)}  # rollup minute edges
        for query in queries:
            if query.robot_id == robot_id:
                times |= edge_times(query)
        data[robot_id] = {ts: rng.uniform(-1e3, 1e3) for ts in times}
    return data, queries


def write(store: HistoryStore, data: dict[str, dict[int, float]], field: str,
          offset: float = 0.0) -> None:
    for robot_id, points in data.items():
        store.write([sample(robot_id, at(ts), **{field: value + offset})
                     for ts, value in sorted(points.items())])


def test_random_queries_match_brute_force(store):
    rng = random.Random(SEED)
    data, queries = build_data(rng)
    write(store, data, FIELD)
    write(store, data, OTHER_FIELD, offset=5_000.0)  # a neighbour that must not leak in
    nonempty = 0
    for query in queries:
        want = expected(data[query.robot_id], query)
        nonempty += bool(want)
        assert_same(actual(store, query), want, query)
    assert nonempty >= len(queries) // 2  # the random ranges mostly hit data


def test_whole_data_at_several_resolutions(store):
    """The full two days, through both the raw and the rollup query paths."""
    rng = random.Random(SEED + 1)
    data, _ = build_data(rng)
    write(store, data, FIELD)
    for robot_id in ROBOTS:
        for max_points in (1, 5, 47, 288, 1600, 100_000):
            query = Query(robot_id, T0_US, T0_US + DATA_SPAN_US, max_points)
            want = expected(data[robot_id], query)
            assert sum(n for *_, n in want) >= RANDOM_POINTS_PER_ROBOT
            assert_same(actual(store, query), want, query)


def test_empty_ranges_give_no_buckets(store):
    points = {T0_US + i * 1_000_000: float(i) for i in range(10)}
    write(store, {robot_id: points for robot_id in ROBOTS}, FIELD)
    last = max(points)
    empty = [
        Query("r1", T0_US - 3_600_000_000, T0_US, 10),  # stop is exclusive: T0 not in it
        Query("r1", last + 1, last + 86_400_000_000, 500),  # after the data
        Query("r1", T0_US + 1, T0_US + 1_000_000, 3),  # between two samples
        Query("nobody", T0_US, last + 1, 10),
        Query('x")', T0_US, last + 1, 10),  # a prefix of a hostile id is another robot
        Query("a'", T0_US, last + 1, 10),
    ]
    for query in empty:
        assert actual(store, query) == [], query
    assert actual(store, Query("r1", T0_US, last + 1, 10), field="no_such_field") == []
    for robot_id in ROBOTS:  # and the same data is found where it is
        query = Query(robot_id, T0_US, last + 1, 4)
        assert_same(actual(store, query), expected(points, query), query)
