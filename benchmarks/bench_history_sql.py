"""Write rate and query latency of the SQL history store: rollups, raw index, no index.

    python benchmarks/bench_history_sql.py                 # 30 days, temp SQLite file
    python benchmarks/bench_history_sql.py --days 3
    python benchmarks/bench_history_sql.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/scratch

One robot, one sample every 2 s with 5 fields (30 days = 6.48M rows); every write also
maintains the per-minute rollups.  Each query runs three ways on the same data:
"store" is SqlHistoryStore.query (rollups plus raw edge minutes when buckets are at
least ROLLUP_MIN_WIDTH_US wide, the raw index otherwise), "raw index" the raw-only SQL
on `samples`, "no index" the same SQL on a copy of `samples` without ux_samples_point.
All three answers must agree.  --pg wants an empty scratch database; the benchmark's
tables are removed again at the end unless --keep.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import MetaData, create_engine, func, inspect, select, text

from services.history.sql_rollups import uses_rollups
from services.history.sql_schema import sample_rollups, samples
from services.history.sql_store import SqlHistoryStore, bucket_select, to_epoch_us
from services.records import migrate
from services.wire.model import Measurement, Sample

ROBOT_ID = "bench_robot"
FIELDS = ("cpu_percent", "memory_percent", "disk_usage", "temperature", "network_kbps")
SAMPLES_PER_WRITE = 1000  # one ingest batch
MAX_POINTS = 1000
QUERY_SPANS = (("30 d", timedelta(days=30)), ("7 d", timedelta(days=7)),
               ("1 d", timedelta(days=1)), ("1 h", timedelta(hours=1)))
MEAN_REL_TOLERANCE = 1e-9
BASELINE_TABLE = "samples_noindex"


def generate(start: datetime, count: int, interval_s: float) -> Iterator[Sample]:
    for i in range(count):
        t = i * interval_s
        cpu = 30 + 20 * math.sin(t / 3600) + (60 if i % 50_000 == 7 else 0)  # rare spikes
        yield Sample(
            measurement=Measurement.PERFORMANCE, robot_id=ROBOT_ID,
            time=start + timedelta(seconds=t), seq=i,
            fields={"cpu_percent": cpu, "memory_percent": 40 + (i % 600) / 60,
                    "disk_usage": 55 + i / count, "temperature": 50 + 5 * math.cos(t / 900),
                    "network_kbps": float(i % 97)},
        )


def load(store: SqlHistoryStore, start: datetime, count: int, interval_s: float) -> float:
    batch: list[Sample] = []
    began = time.perf_counter()
    for item in generate(start, count, interval_s):
        batch.append(item)
        if len(batch) == SAMPLES_PER_WRITE:
            store.write(batch)
            batch = []
    if batch:
        store.write(batch)
    return time.perf_counter() - began


def timed(func, repeats: int) -> tuple[float, object]:
    durations, result = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        result = func()
        durations.append(time.perf_counter() - began)
    return statistics.median(durations), result


def same_answers(a: list, b: list) -> bool:
    """(k, min, max, mean, count) rows equal, the mean up to float rounding."""
    return len(a) == len(b) and all(
        (x[0], x[1], x[2], x[4]) == (y[0], y[1], y[2], y[4])
        and math.isclose(x[3], y[3], rel_tol=MEAN_REL_TOLERANCE) for x, y in zip(a, b, strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--interval-s", type=float, default=2.0)
    parser.add_argument("--pg", help="PostgreSQL URL of an empty scratch database")
    parser.add_argument("--keep", action="store_true", help="leave the tables in --pg")
    parser.add_argument("--repeats", type=int, default=3, help="runs per query (median)")
    args = parser.parse_args(argv)

    workdir = tempfile.TemporaryDirectory(prefix="bench-history-")
    url = args.pg or f"sqlite:///{Path(workdir.name) / 'history.db'}"
    engine = create_engine(url)
    if inspect(engine).get_table_names():
        print(f"refusing: {engine.url.render_as_string(hide_password=True)} is not empty")
        return 2
    migrate.upgrade(url)  # the production path: Alembic up to head

    count = int(args.days * 86_400 / args.interval_s)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    stop = start + timedelta(seconds=count * args.interval_s)
    print(f"backend: {engine.dialect.name}, {count:,} samples x {len(FIELDS)} fields "
          f"= {count * len(FIELDS):,} rows over {args.days:g} days")

    store = SqlHistoryStore(url)
    try:
        elapsed = load(store, start, count, args.interval_s)
        stats = store.stats()
        with engine.connect() as conn:
            rollup_rows = conn.execute(select(func.count()).select_from(sample_rollups)
                                       ).scalar_one()
        print(f"write with rollups: {stats.samples_written:,} rows in {elapsed:.1f} s = "
              f"{stats.samples_written / elapsed:,.0f} rows/s "
              f"({count / elapsed:,.0f} samples/s, {SAMPLES_PER_WRITE} samples per write); "
              f"{rollup_rows:,} rollup rows")

        began = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text(f"CREATE TABLE {BASELINE_TABLE} AS SELECT * FROM samples"))
            if engine.dialect.name == "postgresql":
                conn.execute(text("ANALYZE samples"))
                conn.execute(text(f"ANALYZE {BASELINE_TABLE}"))
        print(f"baseline copy without index: {time.perf_counter() - began:.1f} s")
        baseline = samples.to_metadata(MetaData(), name=BASELINE_TABLE)

        print(f"{'query (max_points=' + str(MAX_POINTS) + ')':<26}{'store':>18}"
              f"{'raw index':>12}{'no index':>12}{'vs raw':>8}{'vs none':>9}{'buckets':>9}")
        queried_all = False
        for label, span in QUERY_SPANS:
            q_start = max(start, stop - span)
            if q_start == start:  # the span is longer than the data: query it all once
                if queried_all:
                    continue
                queried_all = True
                label = f"all {(stop - start) / timedelta(days=1):g} d"
            start_us, stop_us = to_epoch_us(q_start), to_epoch_us(stop)
            width_us = -(-(stop_us - start_us) // MAX_POINTS)
            store_s, buckets = timed(
                lambda q_start=q_start: store.query(ROBOT_ID, "performance", "cpu_percent",
                                                    q_start, stop, MAX_POINTS), args.repeats)
            answer = [((b.start - q_start) // timedelta(microseconds=width_us), b.min, b.max,
                       b.mean, b.count) for b in buckets]
            path = "rollups" if uses_rollups(width_us) else "raw"
            raw_s, raw = timed(
                lambda start_us=start_us, stop_us=stop_us, width_us=width_us: store.bucket_rows(
                    ROBOT_ID, "performance", "cpu_percent", "", start_us, stop_us, width_us,
                    rollups=False), args.repeats)
            stmt = bucket_select(ROBOT_ID, "performance", "cpu_percent", "",
                                 start_us, stop_us, width_us, baseline)

            def scan(stmt=stmt):
                with engine.connect() as conn:
                    return [(int(k), float(lo), float(hi), float(mean), int(n))
                            for k, lo, hi, mean, n in conn.execute(stmt)]

            scan_s, unindexed = timed(scan, args.repeats)
            if not (same_answers(answer, raw) and same_answers(raw, unindexed)):
                print(f"MISMATCH between store, raw-index and baseline answers for {label}")
                return 1
            print(f"{label + ' of cpu_percent':<26}{'(' + path + ')':>9}"
                  f"{store_s * 1000:>7.1f}ms{raw_s * 1000:>10.1f}ms{scan_s * 1000:>10.1f}ms"
                  f"{raw_s / store_s:>7.1f}x{scan_s / store_s:>8.1f}x{len(buckets):>9}")
    finally:
        store.close()
        if args.pg and not args.keep:
            with engine.begin() as conn:
                conn.execute(text(f"DROP TABLE IF EXISTS {BASELINE_TABLE}"))
            migrate.downgrade(url, "base")
        engine.dispose()
        workdir.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
