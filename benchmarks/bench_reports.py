"""Benchmark: generate a 24 h system report for 10 robots (target under 3 s).

Synthetic data at one sample per 10 s per signal (performance, battery and SERVOS servo
temperatures per robot) is written into a migrated SQLite database first; only the
generate_report call is timed.  Run: .venv/bin/python benchmarks/bench_reports.py
"""

from __future__ import annotations

import argparse
import logging
import math
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.history.sql_store import SqlHistoryStore
from services.records.db import Database
from services.records.migrate import upgrade
from services.reports import generate_report
from services.wire.model import Measurement, Sample

logger = logging.getLogger(__name__)

ROBOTS, SERVOS, STEP_S, SPAN_H, TARGET_S = 10, 6, 10, 24, 3.0
WRITE_BATCH = 20_000
STOP = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
START = STOP - timedelta(hours=SPAN_H)


def _robot_samples(robot_id: str, phase: float):
    for i in range(SPAN_H * 3600 // STEP_S):
        moment = START + timedelta(seconds=i * STEP_S)
        wave = math.sin(i / 300 + phase)
        yield Sample(Measurement.PERFORMANCE, robot_id, moment, {
            "cpu_percent": 45 + 35 * wave, "memory_percent": 55 + 10 * wave,
            "cpu_temperature": 58 + 12 * wave})
        yield Sample(Measurement.BATTERY, robot_id, moment,
                     {"percentage": 100 - (i % 4320) / 50})
        for servo in range(1, SERVOS + 1):
            yield Sample(Measurement.SERVOS, robot_id, moment,
                         {"temperature": 35 + servo * 2 + 8 * wave},
                         tags={"servo_id": str(servo)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="copy page 1 of the PDF here as PNG")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        history, database = SqlHistoryStore(url), Database(url)
        robots = [f"tonypi-{n:02d}" for n in range(1, ROBOTS + 1)]
        began = time.perf_counter()
        for index, robot_id in enumerate(robots):
            batch: list[Sample] = []
            for sample in _robot_samples(robot_id, index):
                batch.append(sample)
                if len(batch) >= WRITE_BATCH:
                    history.write(batch)
                    batch = []
            history.write(batch)
        written = time.perf_counter() - began
        history.close()  # a fresh connection, as a console opening an existing store
        history = SqlHistoryStore(url)
        out = Path(folder) / "report.pdf"
        began = time.perf_counter()
        result = generate_report("system", robots, START, STOP, history=history,
                                 database=database, author="bench", out_path=out)
        took = time.perf_counter() - began
        verdict = "OK" if took < TARGET_S else "SLOW"
        print(f"setup: wrote {ROBOTS} robots x 24 h at 1 sample/{STEP_S} s "  # noqa: T201
              f"({3 + SERVOS} signals each) in {written:.1f} s")
        print(f"24 h system report for {ROBOTS} robots: {took:.2f} s "  # noqa: T201
              f"(target < {TARGET_S:.0f} s) {verdict}; {out.stat().st_size // 1024} KiB, "
              f"report id {result.report_id}")
        if args.keep:
            import subprocess
            subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1",
                            "-singlefile", str(out), str(args.keep.with_suffix(""))],
                           check=True)
        history.close()
        database.dispose()


if __name__ == "__main__":
    main()
