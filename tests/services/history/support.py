"""Schema set-up and sample builders shared by the history store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.records.migrate import upgrade
from services.wire.model import Measurement, Sample

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def prepare_sql_schema(url: str) -> None:
    """Build the history tables the way production does: Alembic up to head."""
    upgrade(url)


def sample(robot_id: str, at: datetime, measurement: Measurement = Measurement.PERFORMANCE,
           seq: int | None = None, tags: dict[str, str] | None = None,
           **fields: float | bool) -> Sample:
    return Sample(measurement=measurement, robot_id=robot_id, time=at, fields=fields,
                  tags=tags or {}, seq=seq)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)
