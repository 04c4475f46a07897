"""Schema set-up and sample builders shared by the history store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine

from services.history import sql_schema
from services.wire.model import Measurement, Sample

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def migrations_available() -> bool:
    try:
        from services.records.migrate import upgrade  # noqa: F401
    except ImportError:
        return False
    return True


def prepare_sql_schema(url: str) -> None:
    """Build the history tables the way production does: Alembic up to head."""
    if migrations_available():
        from services.records.migrate import upgrade

        upgrade(url)
        return
    # TODO(lead): remove once services.records.migrate exists; create_all mirrors 0002.
    engine = create_engine(url)
    try:
        sql_schema.metadata.create_all(engine)
    finally:
        engine.dispose()


def sample(robot_id: str, at: datetime, measurement: Measurement = Measurement.PERFORMANCE,
           seq: int | None = None, tags: dict[str, str] | None = None,
           **fields: float | bool) -> Sample:
    return Sample(measurement=measurement, robot_id=robot_id, time=at, fields=fields,
                  tags=tags or {}, seq=seq)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)
