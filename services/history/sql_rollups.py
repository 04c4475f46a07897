"""Per-minute rollups of the SQL history store: kept on every write, read for long ranges.

Like an InfluxDB downsampling task, but inside the write transaction: only the points
that the raw insert actually stored (RETURNING of INSERT ... ON CONFLICT DO NOTHING) are
added, so a redelivered batch never counts twice and rollups never lag the samples.

A long-range query splits each output bucket [start + k*w, start + (k+1)*w) into the
whole minutes inside it, read from `sample_rollups`, and the partial minutes at its
edges, read from `samples`.  min/max/sum/count merge exactly, so the answer equals a
raw-only computation (the mean up to float rounding).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from sqlalchemy import (
    BigInteger,
    CompoundSelect,
    Insert,
    Select,
    Table,
    and_,
    column,
    func,
    literal,
    select,
    union_all,
    values,
)
from sqlalchemy import case as sql_case

from services.history.sql_schema import ROLLUP_WIDTH_US, sample_rollups, samples

logger = logging.getLogger(__name__)

# Each output bucket costs up to two partial minutes of raw rows at its edges; from ten
# whole minutes per bucket on, rollups read several times fewer rows than the raw table.
ROLLUP_MIN_WIDTH_US = 10 * 60 * 1_000_000
# Edge ranges travel as bound parameters (two each): SQLite allows 32,766 per statement.
MAX_EDGE_RANGES = 10_000
KEY_COLUMNS = ("robot_id", "measurement", "field", "series")

PointRow = tuple[str, str, str, str, int, float]  # robot, measurement, field, series, ts, v
PartialRow = tuple[int, float, float, float, int]  # bucket number k, min, max, sum, count
BucketRow = tuple[int, float, float, float, int]  # k, min, max, mean, count


def least(a, b):
    """LEAST(a, b) on both SQLite and PostgreSQL."""
    return sql_case((a < b, a), else_=b)


def greatest(a, b):
    """GREATEST(a, b) on both SQLite and PostgreSQL."""
    return sql_case((a > b, a), else_=b)


def rollup_start_us(ts_us: int) -> int:
    """Start of the rollup minute holding ts_us (Python's % floors, also before 1970)."""
    return ts_us - ts_us % ROLLUP_WIDTH_US


def aggregate_points(points: Iterable[PointRow]) -> list[dict]:
    """Rollup rows (one per series and minute) for freshly stored points."""
    acc: dict[tuple[str, str, str, str, int], list] = {}
    for robot_id, measurement, field, series, ts_us, value in points:
        key = (robot_id, measurement, field, series, ts_us - ts_us % ROLLUP_WIDTH_US)
        part = acc.get(key)
        if part is None:
            acc[key] = [value, value, value, 1]
            continue
        if value < part[0]:
            part[0] = value
        elif value > part[1]:
            part[1] = value
        part[2] += value
        part[3] += 1
    # Sorted, so concurrent writers lock rollup rows in the same order (no deadlock).
    return [{"robot_id": key[0], "measurement": key[1], "field": key[2], "series": key[3],
             "bucket_us": key[4], "min": part[0], "max": part[1], "sum": part[2],
             "count": part[3]}
            for key, part in sorted(acc.items())]


def rollup_upsert(insert: Callable[[Table], Insert]) -> Insert:
    """Add rollup rows to stored ones; `insert` is the dialect's insert()."""
    stmt = insert(sample_rollups)
    new, old = stmt.excluded, sample_rollups.c
    return stmt.on_conflict_do_update(
        index_elements=[*KEY_COLUMNS, "bucket_us"],
        set_={"min": least(new.min, old.min), "max": greatest(new.max, old.max),
              "sum": old.sum + new.sum, "count": old.count + new.count},
    )


def edge_ranges(start_us: int, stop_us: int, width_us: int) -> list[tuple[int, int]] | None:
    """[lo, hi) ranges of raw rows a rollup query must read, or None when the query is
    better answered from raw rows alone (narrow buckets, or too many edges)."""
    if width_us < ROLLUP_MIN_WIDTH_US:
        return None
    if -(-(stop_us - start_us) // width_us) + 1 > MAX_EDGE_RANGES:
        return None
    # A minute is ragged when a bucket boundary (or start/stop) falls strictly inside it.
    minutes = {rollup_start_us(edge) for edge in (*range(start_us, stop_us, width_us), stop_us)
               if edge % ROLLUP_WIDTH_US}
    # Buckets are at least ten minutes wide, so these minutes never touch or overlap.
    return [(max(minute, start_us), min(minute + ROLLUP_WIDTH_US, stop_us))
            for minute in sorted(minutes)]


def rollup_bucket_select(robot_id: str, measurement: str, field: str, series: str,
                         start_us: int, stop_us: int, width_us: int,
                         ranges: list[tuple[int, int]]) -> Select | CompoundSelect:
    """Partial aggregates (k, min, max, sum, count), several rows per k, for
    merge_partials.  One statement, so both parts see the same snapshot of the data."""
    start = literal(start_us, BigInteger)
    width = literal(width_us, BigInteger)
    r = sample_rollups.c
    # A rollup minute counts when its first and last microsecond fall in the same
    # output bucket and the minute lies inside [start, stop); edge_ranges covers the rest.
    minutes = (
        select(((r.bucket_us - start) // width).label("k"),
               ((r.bucket_us + literal(ROLLUP_WIDTH_US - 1, BigInteger) - start) // width
                ).label("k_last"),
               r.min, r.max, r.sum, r.count)
        .where(r.robot_id == robot_id, r.measurement == measurement, r.field == field,
               r.series == series, r.bucket_us >= start,
               r.bucket_us <= literal(stop_us - ROLLUP_WIDTH_US, BigInteger))
        .subquery("minutes")
    )
    whole = (select(minutes.c.k, func.min(minutes.c.min), func.max(minutes.c.max),
                    func.sum(minutes.c.sum), func.sum(minutes.c.count))
             .where(minutes.c.k == minutes.c.k_last)
             .group_by(minutes.c.k))
    if not ranges:
        return whole
    edges = (values(column("lo", BigInteger), column("hi", BigInteger), name="edges")
             .data(ranges).cte("edges"))  # a CTE: SQLite rejects VALUES aliases in FROM
    s = samples.c
    points = (
        select(((s.ts_us - start) // width).label("k"), s.value)
        .select_from(edges)
        .join(samples, and_(s.robot_id == robot_id, s.measurement == measurement,
                            s.field == field, s.series == series,
                            s.ts_us >= edges.c.lo, s.ts_us < edges.c.hi))
        .subquery("points")
    )
    ragged = (select(points.c.k, func.min(points.c.value), func.max(points.c.value),
                     func.sum(points.c.value), func.count())
              .group_by(points.c.k))
    return union_all(whole, ragged)


def merge_partials(rows: Iterable[PartialRow]) -> list[BucketRow]:
    """(k, min, max, mean, count) per bucket number, ascending, from partial rows."""
    totals: dict[int, list] = {}
    for k, lo, hi, total, count in rows:
        k, lo, hi, total, count = int(k), float(lo), float(hi), float(total), int(count)
        part = totals.get(k)
        if part is None:
            totals[k] = [lo, hi, total, count]
            continue
        part[0] = min(part[0], lo)
        part[1] = max(part[1], hi)
        part[2] += total
        part[3] += count
    return [(k, lo, hi, total / count, count)
            for k, (lo, hi, total, count) in sorted(totals.items())]
