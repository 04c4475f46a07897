"""Query-and-draw time of a 30-day history chart next to fetching its raw rows.

    python benchmarks/bench_history_query_draw.py              # SQLite (temp file)
    python benchmarks/bench_history_query_draw.py --pg         # also a throwaway PostgreSQL
    python benchmarks/bench_history_query_draw.py --pg-url postgresql+psycopg://...  # empty DB

One signal at 1 Hz for 30 days (2,592,000 samples) is written through
SqlHistoryStore.write (which also keeps the per-minute rollups).  Then, per backend:

(a) store.query(max_points=1600) and drawing the answer into an offscreen pyqtgraph
    PlotWidget: the mean as a curve, min/max as a FillBetweenItem band, processEvents and
    widget.grab() so the frame is really rendered;
(b) SELECT ts_us, value for the same series and range, fetchall: what a chart without
    server-side downsampling would have to pull before drawing anything.

Targets: (a) under 0.5 s and at least 10x faster than (b).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from services.history.sql_store import SqlHistoryStore, to_epoch_us  # noqa: E402
from services.records import migrate  # noqa: E402
from services.wire.model import Measurement, Sample  # noqa: E402

ROBOT_ID = "bench_robot"
MEASUREMENT, FIELD = "performance", "cpu_percent"
INTERVAL_S = 1.0
MAX_POINTS = 1600  # about the plot's pixel width
SAMPLES_PER_WRITE = 5000
PLOT_SIZE_PX = (1600, 600)
TARGET_QUERY_DRAW_S = 0.5
TARGET_SPEEDUP = 10.0
RAW_SQL = text("SELECT ts_us, value FROM samples WHERE robot_id = :robot_id "
               "AND measurement = :measurement AND field = :field AND series = '' "
               "AND ts_us >= :start_us AND ts_us < :stop_us")


def generate(start: datetime, count: int) -> Iterator[Sample]:
    for i in range(count):
        t = i * INTERVAL_S
        cpu = 30 + 20 * math.sin(t / 3600) + (60 if i % 50_000 == 7 else 0)  # rare spikes
        yield Sample(measurement=Measurement.PERFORMANCE, robot_id=ROBOT_ID,
                     time=start + timedelta(seconds=t), seq=i, fields={FIELD: cpu})


def load(store: SqlHistoryStore, start: datetime, count: int) -> float:
    batch: list[Sample] = []
    began = time.perf_counter()
    for item in generate(start, count):
        batch.append(item)
        if len(batch) == SAMPLES_PER_WRITE:
            store.write(batch)
            batch = []
    if batch:
        store.write(batch)
    return time.perf_counter() - began


def timed(func: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """(first run, median of all runs, last result) in seconds."""
    durations, result = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        result = func()
        durations.append(time.perf_counter() - began)
    return durations[0], statistics.median(durations), result


def query_and_draw(store: SqlHistoryStore, plot: pg.PlotWidget, app: QApplication,
                   start: datetime, stop: datetime) -> int:
    buckets = store.query(ROBOT_ID, MEASUREMENT, FIELD, start, stop, max_points=MAX_POINTS)
    x = np.fromiter((b.start.timestamp() for b in buckets), float, len(buckets))
    lows = np.fromiter((b.min for b in buckets), float, len(buckets))
    highs = np.fromiter((b.max for b in buckets), float, len(buckets))
    means = np.fromiter((b.mean for b in buckets), float, len(buckets))
    plot.clear()
    low_curve = pg.PlotDataItem(x, lows, pen=pg.mkPen((70, 130, 200, 90)))
    high_curve = pg.PlotDataItem(x, highs, pen=pg.mkPen((70, 130, 200, 90)))
    plot.addItem(low_curve)
    plot.addItem(high_curve)
    plot.addItem(pg.FillBetweenItem(low_curve, high_curve, brush=pg.mkBrush(70, 130, 200, 60)))
    plot.addItem(pg.PlotDataItem(x, means, pen=pg.mkPen((20, 60, 140), width=1.5)))
    app.processEvents()
    image = plot.grab()
    if image.isNull():
        raise RuntimeError("the plot did not render")
    return len(buckets)


def run_backend(label: str, url: str, start: datetime, count: int, repeats: int,
                plot: pg.PlotWidget, app: QApplication) -> bool:
    migrate.upgrade(url)  # the production path: Alembic up to head
    store = SqlHistoryStore(url)
    engine = create_engine(url)
    stop = start + timedelta(seconds=count * INTERVAL_S)
    try:
        elapsed = load(store, start, count)
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        print(f"{label}: loaded {count:,} samples in {elapsed:.1f} s "
              f"({count / elapsed:,.0f} samples/s)")

        first_a, a, n_buckets = timed(
            lambda: query_and_draw(store, plot, app, start, stop), repeats)
        params = {"robot_id": ROBOT_ID, "measurement": MEASUREMENT, "field": FIELD,
                  "start_us": to_epoch_us(start), "stop_us": to_epoch_us(stop)}

        def fetch_raw() -> int:
            with engine.connect() as conn:
                return len(conn.execute(RAW_SQL, params).fetchall())

        first_b, b, n_rows = timed(fetch_raw, repeats)
        ratio = b / a
        met = a < TARGET_QUERY_DRAW_S and ratio >= TARGET_SPEEDUP
        print(f"{label}: (a) query({MAX_POINTS}) + draw: {a * 1000:.1f} ms median "
              f"(first {first_a * 1000:.1f} ms), {n_buckets} buckets")
        print(f"{label}: (b) raw rows fetchall:      {b * 1000:.1f} ms median "
              f"(first {first_b * 1000:.1f} ms), {n_rows:,} rows")
        print(f"{label}: ratio (b)/(a) = {ratio:.1f}x; targets (a) < "
              f"{TARGET_QUERY_DRAW_S} s and >= {TARGET_SPEEDUP:g}x: "
              f"{'met' if met else 'NOT met'}")
        if n_rows != count:
            print(f"{label}: raw fetch returned {n_rows:,} rows, expected {count:,}")
            return False
        return met
    finally:
        store.close()
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement")
    parser.add_argument("--pg", action="store_true",
                        help="also run on a throwaway PostgreSQL started for the benchmark")
    parser.add_argument("--pg-url", help="also run on this empty PostgreSQL database")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args(argv)

    app = QApplication.instance() or QApplication([])
    plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
    plot.resize(*PLOT_SIZE_PX)
    plot.show()
    count = int(args.days * 86_400 / INTERVAL_S)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    print(f"one signal at 1 Hz for {args.days:g} days = {count:,} samples; "
          f"plot {PLOT_SIZE_PX[0]}x{PLOT_SIZE_PX[1]} px, median of {args.repeats} runs")
    ok = True
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="bench-draw-") as workdir:
            url = f"sqlite:///{Path(workdir) / 'history.db'}"
            ok &= run_backend("sqlite", url, start, count, args.repeats, plot, app)
    if args.pg_url:
        ok &= run_backend("postgresql", args.pg_url, start, count, args.repeats, plot, app)
    elif args.pg:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.support
        from tests.support.servers import Postgres

        server = Postgres()
        server.start()
        try:
            ok &= run_backend("postgresql", server.create_database(), start, count,
                              args.repeats, plot, app)
        finally:
            server.stop()
    plot.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
