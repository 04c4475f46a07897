"""Write history rows (downsampled buckets or 1 s raw buckets) and log entries to CSV and
JSON files.

Pure: no Qt.  Rows are streamed to the file one at a time so a 30-day raw export does
not hold a second copy in memory, and a progress callback lets the caller show a bar
and cancel (return False) - the partial file is removed so nothing half-written is left.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.history.base import Bucket

logger = logging.getLogger(__name__)

CSV_COLUMNS = ("time", "robot_id", "measurement", "field", "series", "min", "mean", "max",
               "count")
LOG_FIELDS = ("id", "timestamp", "level", "category", "robot_id", "message", "details")
PROGRESS_EVERY_ROWS = 1000  # callback granularity: often enough for a smooth bar
FORMAT_VERSION = 1

# done rows, total rows (None when unknown); returning False cancels the export
ProgressCallback = Callable[[int, int | None], bool | None]


class ExportCancelled(Exception):
    """The progress callback asked to stop; the partial file was removed."""


@dataclass(frozen=True, slots=True)
class ExportRow:
    time: datetime  # UTC start of the bucket
    robot_id: str
    measurement: str
    field: str
    series: str
    min: float
    mean: float
    max: float
    count: int


def rows_from_buckets(robot_id: str, measurement: str, field: str, series: str,
                      buckets: Iterable[Bucket]) -> Iterable[ExportRow]:
    for bucket in buckets:
        yield ExportRow(bucket.start, robot_id, measurement, field, series,
                        bucket.min, bucket.mean, bucket.max, bucket.count)


def iso_utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime in export; history times are UTC-aware")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _row_dict(row: ExportRow) -> dict[str, Any]:
    return {"time": iso_utc(row.time), "robot_id": row.robot_id,
            "measurement": row.measurement, "field": row.field, "series": row.series,
            "min": _finite(row.min), "mean": _finite(row.mean), "max": _finite(row.max),
            "count": row.count}


def _finite(value: float) -> float | None:
    # JSON has no NaN/inf; the stores reject them anyway, this only guards the format
    return value if math.isfinite(value) else None


class _Progress:
    def __init__(self, callback: ProgressCallback | None, total: int | None) -> None:
        self.callback, self.total, self.done = callback, total, 0

    def step(self) -> None:
        self.done += 1
        if self.done % PROGRESS_EVERY_ROWS == 0:
            self.report()

    def report(self) -> None:
        if self.callback is not None and self.callback(self.done, self.total) is False:
            raise ExportCancelled(f"export cancelled after {self.done} rows")


def _guarded(path: Path, write: Callable[[], int]) -> int:
    try:
        return write()
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def write_csv(path: str | Path, rows: Iterable[ExportRow], *, total: int | None = None,
              progress: ProgressCallback | None = None) -> int:
    """Write rows as CSV (header CSV_COLUMNS); returns the number of rows written."""
    path = Path(path)
    tracker = _Progress(progress, total)

    def write() -> int:
        with path.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for row in rows:
                record = _row_dict(row)
                writer.writerow({k: ("" if v is None else v) for k, v in record.items()})
                tracker.step()
        tracker.report()
        return tracker.done

    written = _guarded(path, write)
    logger.info("exported %d rows to %s", written, path)
    return written


def write_json(path: str | Path, rows: Iterable[ExportRow], *,
               metadata: Mapping[str, Any] | None = None, total: int | None = None,
               progress: ProgressCallback | None = None) -> int:
    """Write {"metadata": {...}, "rows": [...]}; rows are streamed one per line."""
    path = Path(path)
    tracker = _Progress(progress, total)
    meta = {"format": "tonypi-history", "version": FORMAT_VERSION,
            "exported_at": iso_utc(datetime.now(UTC)), "columns": list(CSV_COLUMNS),
            **(metadata or {})}

    def write() -> int:
        with path.open("w", encoding="utf-8") as stream:
            stream.write('{"metadata": ' + json.dumps(meta, default=_json_default))
            stream.write(', "rows": [')
            for row in rows:
                stream.write(",\n" if tracker.done else "\n")
                stream.write(json.dumps(_row_dict(row)))
                tracker.step()
            stream.write("\n]}\n")
        tracker.report()
        return tracker.done

    written = _guarded(path, write)
    logger.info("exported %d rows to %s", written, path)
    return written


def export_logs(entries: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write log entries (mappings with LOG_FIELDS, `details` a JSON value) to `path`:
    JSON (a list of objects) when it ends in .json, else CSV with `details` as JSON text."""
    path = Path(path)
    records = [dict(entry) for entry in entries]

    def write() -> int:
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps(records, indent=2, default=str), encoding="utf-8")
            return len(records)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=LOG_FIELDS)
            writer.writeheader()
            for record in records:
                details = record.get("details")
                writer.writerow({**record, "details": "" if details is None
                                 else json.dumps(details, default=str)})
        return len(records)

    written = _guarded(path, write)
    logger.info("exported %d log entries to %s", written, path)
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    raise TypeError(f"cannot export {type(value).__name__} in metadata")


def read_csv(path: str | Path) -> list[ExportRow]:
    """Read a file written by write_csv (for round trips and re-import)."""
    with Path(path).open(newline="", encoding="utf-8") as stream:
        return [_parse(record) for record in csv.DictReader(stream)]


def read_json(path: str | Path) -> tuple[dict[str, Any], list[ExportRow]]:
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    return document["metadata"], [_parse(record) for record in document["rows"]]


def _parse(record: Mapping[str, Any]) -> ExportRow:
    def number(key: str) -> float:
        value = record[key]
        return math.nan if value in ("", None) else float(value)

    return ExportRow(datetime.fromisoformat(str(record["time"]).replace("Z", "+00:00")),
                     record["robot_id"], record["measurement"], record["field"],
                     record["series"], number("min"), number("mean"), number("max"),
                     int(record["count"]))
