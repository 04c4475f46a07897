"""CSV and JSON exports of history rows (exact round trips, progress and cancel) and of
log entries."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta

import pytest

from services.export import (
    CSV_COLUMNS,
    LOG_FIELDS,
    PROGRESS_EVERY_ROWS,
    ExportCancelled,
    ExportRow,
    export_logs,
    read_csv,
    read_json,
    rows_from_buckets,
    write_csv,
    write_json,
)
from services.history.base import Bucket

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_rows(n: int) -> list[ExportRow]:
    buckets = [Bucket(T0 + timedelta(seconds=i), min=i - 0.25, max=i + 0.5, mean=i + 0.125,
                      count=i % 7 + 1) for i in range(n)]
    return list(rows_from_buckets('r"1', "servos", "temperature", "3", buckets))


def test_csv_round_trip_is_exact(tmp_path):
    rows = make_rows(50)
    path = tmp_path / "out.csv"
    assert write_csv(path, rows) == 50
    with path.open(newline="") as stream:
        header = next(csv.reader(stream))
    assert tuple(header) == CSV_COLUMNS
    assert read_csv(path) == rows
    first = path.read_text().splitlines()[1]
    assert first.startswith("2026-03-01T12:00:00Z,")


def test_json_round_trip_with_metadata(tmp_path):
    rows = make_rows(30)
    path = tmp_path / "out.json"
    assert write_json(path, rows, metadata={"start": T0, "robots": ["r1"]}) == 30
    meta, back = read_json(path)
    assert back == rows
    assert meta["start"] == "2026-03-01T12:00:00Z" and meta["robots"] == ["r1"]
    assert meta["columns"] == list(CSV_COLUMNS)
    assert json.loads(path.read_text())["rows"][0]["count"] == 1


def test_empty_export_is_valid(tmp_path):
    assert write_json(tmp_path / "e.json", []) == 0
    assert read_json(tmp_path / "e.json")[1] == []
    assert write_csv(tmp_path / "e.csv", []) == 0
    assert read_csv(tmp_path / "e.csv") == []


@pytest.mark.parametrize("writer", [write_csv, write_json])
def test_progress_reports_and_cancel_removes_file(tmp_path, writer):
    n = PROGRESS_EVERY_ROWS * 3 + 5
    seen: list[tuple[int, int | None]] = []
    writer(tmp_path / "p", iter(make_rows(n)), total=n,
           progress=lambda done, total: seen.append((done, total)))
    assert seen == [(PROGRESS_EVERY_ROWS * k, n) for k in (1, 2, 3)] + [(n, n)]

    def cancel_at_second(done: int, total: int | None) -> bool:
        return done < 2 * PROGRESS_EVERY_ROWS

    target = tmp_path / "cancelled"
    with pytest.raises(ExportCancelled):
        writer(target, make_rows(n), total=n, progress=cancel_at_second)
    assert not target.exists()


LOG_ENTRIES = [
    {"id": 2, "timestamp": "2026-03-01T12:01:00+00:00", "level": "ERROR",
     "category": "robot", "robot_id": "tonypi_a", "message": 'servo "3", hot',
     "details": {"servo": 3, "temperature": 71.5}},
    {"id": 1, "timestamp": "2026-03-01T12:00:00+00:00", "level": "INFO",
     "category": "mqtt", "robot_id": "", "message": "reconnect", "details": None},
]


def test_log_export_csv_has_the_fields_and_details_as_json(tmp_path):
    path = export_logs(LOG_ENTRIES, tmp_path / "logs.CSV")
    with path.open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        records = list(reader)
    assert tuple(reader.fieldnames) == LOG_FIELDS
    assert [r["message"] for r in records] == ['servo "3", hot', "reconnect"]
    assert json.loads(records[0]["details"]) == {"servo": 3, "temperature": 71.5}
    assert records[1]["details"] == "" and records[1]["robot_id"] == ""


def test_log_export_json_is_a_list_of_the_entries(tmp_path):
    path = export_logs(iter(LOG_ENTRIES), tmp_path / "logs.json")
    assert json.loads(path.read_text(encoding="utf-8")) == LOG_ENTRIES


def test_log_export_failure_leaves_no_file(tmp_path):
    unwritable = [{**LOG_ENTRIES[0], "unknown column": 1}]  # DictWriter refuses it
    with pytest.raises(ValueError):
        export_logs(unwritable, tmp_path / "logs.csv")
    assert not (tmp_path / "logs.csv").exists()
