"""The history store interface shared by the SQL and InfluxDB implementations.

Writes are synchronous and durable: when `write` returns, the samples are stored, so
the ingest service may acknowledge the MQTT messages they came from.  A failure raises
`StoreError` and nothing is acknowledged.  Writing the same point twice (same robot,
measurement, series tag and time) stores it once, so redelivered messages are harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from services.wire.model import Sample


class StoreError(Exception):
    """The store could not durably take or answer something; the caller may retry."""


class StoreRefused(StoreError):
    """The store is up but refuses this data (a value it cannot hold, a bad request).

    Retrying the same samples never succeeds: the caller isolates and sets them aside
    instead of holding everything else back.
    """


@dataclass(frozen=True, slots=True)
class Bucket:
    """One downsampled interval: spikes survive because min and max are kept."""

    start: datetime  # UTC, inclusive start of the interval
    min: float
    max: float
    mean: float
    count: int


@dataclass(frozen=True, slots=True)
class SeriesKey:
    measurement: str
    field: str
    series: str = ""  # servo_id or sensor_type, "" when the measurement has none


class HistoryStore(Protocol):
    def write(self, samples: Sequence[Sample]) -> None:
        """Store samples durably before returning; raise StoreError on failure."""

    def query(self, robot_id: str, measurement: str, field: str, start: datetime,
              stop: datetime, max_points: int = 500, series: str = "") -> list[Bucket]:
        """Return at most `max_points` buckets of equal width covering [start, stop),
        oldest first, empty buckets omitted."""

    def list_robots(self) -> list[str]:
        """Robot ids with at least one stored sample, sorted."""

    def list_fields(self, robot_id: str) -> list[SeriesKey]:
        """Every (measurement, field, series) stored for a robot, sorted."""

    def close(self) -> None:
        """Flush and release connections."""


def bucket_width_us(start: datetime, stop: datetime, max_points: int) -> int:
    """Width of each bucket in microseconds, so that [start, stop) fits max_points."""
    if stop <= start:
        raise ValueError("stop must be after start")
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    span_us = (stop - start) // timedelta(microseconds=1)  # exact: no float seconds
    return max(1, -(-span_us // max_points))
