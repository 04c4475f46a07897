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
    Connection,
    Insert,
    Table,
    and_,
    bindparam,
    cast,
    func,
    literal,
    select,
    true,
    union_all,
)
from sqlalchemy import case as sql_case
from sqlalchemy.dialects import postgresql, sqlite

from services.history.sql_schema import ROLLUP_WIDTH_US, sample_rollups, samples

logger = logging.getLogger(__name__)

# Each output bucket costs up to two partial minutes of raw rows at its edges; from ten
# whole minutes per bucket on, rollups read several times fewer rows than the raw table.
ROLLUP_MIN_WIDTH_US = 10 * 60 * 1_000_000
KEY_COLUMNS = ("robot_id", "measurement", "field", "series")
POINT_COLUMNS = (*KEY_COLUMNS, "ts_us", "value", "seq")

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


class NewPointsInsert:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING: the points this insert stored, never
    those already there, which is exactly what the rollups may add (no double counts).

    PostgreSQL gets the batch as one array per column (INSERT ... SELECT FROM unnest):
    psycopg runs per-row VALUES with RETURNING about four times slower.
    """

    def __init__(self, dialect: str) -> None:
        self._arrays = dialect == "postgresql"
        if self._arrays:
            source = (func.unnest(*(cast(bindparam(name), postgresql.ARRAY(samples.c[name].type))
                                    for name in POINT_COLUMNS))
                      .table_valued(*POINT_COLUMNS).render_derived(name="batch"))
            stmt = postgresql.insert(samples).from_select(
                list(POINT_COLUMNS), select(*(source.c[name] for name in POINT_COLUMNS)))
        else:
            stmt = sqlite.insert(samples)
        self._stmt = stmt.on_conflict_do_nothing().returning(
            *(samples.c[name] for name in (*KEY_COLUMNS, "ts_us", "value")))

    def execute(self, conn: Connection, rows: list[dict]) -> list[PointRow]:
        if not self._arrays:
            return conn.execute(self._stmt, rows).all()  # SQLite: one writer at a time
        # In key order, so two writers storing overlapping points wait for each other's
        # index entries in the same order instead of deadlocking.
        rows = sorted(rows, key=_point_order)
        return conn.execute(self._stmt, {name: [row[name] for row in rows]
                                         for name in POINT_COLUMNS}).all()


def _point_order(row: dict) -> tuple[str, str, str, str, int]:
    return row["robot_id"], row["measurement"], row["field"], row["series"], row["ts_us"]


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


def uses_rollups(width_us: int) -> bool:
    """Whether buckets this wide are answered from rollups (else from raw rows alone)."""
    return width_us >= ROLLUP_MIN_WIDTH_US


def rollup_bucket_select(robot_id: str, measurement: str, field: str, series: str,
                         start_us: int, stop_us: int, width_us: int, *, lateral: bool
                         ) -> CompoundSelect:
    """Partial aggregates (k, min, max, sum, count), several rows per k, for
    merge_partials.  One statement, so both parts see the same snapshot of the data.
    `lateral` (PostgreSQL only) fixes the join order of the raw edge part."""
    start = literal(start_us, BigInteger)
    stop = literal(stop_us, BigInteger)
    width = literal(width_us, BigInteger)
    minute = literal(ROLLUP_WIDTH_US, BigInteger)
    key = (robot_id, measurement, field, series)
    r = sample_rollups.c
    # A rollup minute counts when its first and last microsecond fall in the same
    # output bucket and the minute lies inside [start, stop); the raw part covers the rest.
    minutes = (
        select(((r.bucket_us - start) // width).label("k"),
               ((r.bucket_us + minute - literal(1, BigInteger) - start) // width
                ).label("k_last"),
               r.min, r.max, r.sum, r.count)
        .where(*(r[name] == value for name, value in zip(KEY_COLUMNS, key, strict=True)),
               r.bucket_us >= start,
               r.bucket_us <= literal(stop_us - ROLLUP_WIDTH_US, BigInteger))
        .subquery("minutes")
    )
    whole = (select(minutes.c.k, func.min(minutes.c.min), func.max(minutes.c.max),
                    func.sum(minutes.c.sum), func.sum(minutes.c.count))
             .where(minutes.c.k == minutes.c.k_last)
             .group_by(minutes.c.k))

    # The ragged minutes are those with a bucket boundary, start or stop strictly inside.
    # The database generates them (recursive CTE) rather than taking a list of ranges, so
    # the statement is the same for every query and SQLAlchemy compiles it only once.
    bounds = select(start.label("b")).cte("bounds", recursive=True)
    bounds = bounds.union_all(select((bounds.c.b + width).label("b"))
                              .where(bounds.c.b + width < stop))
    edge_times = union_all(select(bounds.c.b), select(stop.label("b"))).subquery("edge_times")
    b = edge_times.c.b
    ragged = (select((b - (b % minute + minute) % minute).label("m"))  # floor, also < 1970
              .where(b % minute != literal(0, BigInteger))
              .distinct()
              .cte("ragged"))
    s = samples.c
    in_ragged = and_(*(s[name] == value for name, value in zip(KEY_COLUMNS, key, strict=True)),
                     s.ts_us >= greatest(ragged.c.m, start),
                     s.ts_us < least(ragged.c.m + minute, stop))
    k = ((s.ts_us - start) // width).label("k")
    if lateral:
        # Without fresh statistics PostgreSQL may scan the whole series once and test it
        # against every ragged minute (measured: 22 s for 30 days).  An aggregating
        # LATERAL subquery cannot be flattened into a plain join, so the plan stays one
        # index range scan per ragged minute.
        per_minute = (select(k, func.min(s.value).label("lo"), func.max(s.value).label("hi"),
                             func.sum(s.value).label("total"), func.count().label("n"))
                      .where(in_ragged).group_by(k).lateral("edge_points"))
        edges = (select(per_minute.c.k, per_minute.c.lo, per_minute.c.hi,
                        per_minute.c.total, per_minute.c.n)
                 .select_from(ragged).join(per_minute, true()))
    else:  # SQLite has no LATERAL; its nested loop keeps the small CTE outside anyway
        points = (select(k, s.value).select_from(ragged).join(samples, in_ragged)
                  .subquery("points"))
        edges = (select(points.c.k, func.min(points.c.value), func.max(points.c.value),
                        func.sum(points.c.value), func.count())
                 .group_by(points.c.k))
    return union_all(whole, edges)


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
