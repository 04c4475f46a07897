"""Column types that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from services.records.errors import InvalidRecord

# JSONB where it exists (indexable, compact), plain JSON text elsewhere.
PortableJSON = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """TIMESTAMP WITH TIME ZONE that only takes aware datetimes and only returns UTC ones.

    SQLite has no time zone type and silently drops an offset, so every value is
    converted to UTC before it is written and read back as UTC.  A naive datetime is
    refused: its zone is unknowable, and guessing is how local robot clocks leak in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise InvalidRecord(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidRecord(f"naive datetime refused (no UTC offset): {value.isoformat()}")
        utc = value.astimezone(UTC)
        # SQLite's DATETIME renders the wall clock only; hand it the UTC wall clock.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            # Only SQLite (or a server default like CURRENT_TIMESTAMP there) gets here,
            # and both store UTC.
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def require_aware(value: datetime, name: str) -> datetime:
    """Check a datetime argument early, so the error names the argument."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRecord(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


def require_text(value: str, max_len: int, name: str) -> str:
    """Check a string argument against its column width; both backends then agree
    (PostgreSQL would refuse an over-long value, SQLite would silently keep it)."""
    if not isinstance(value, str) or not value:
        raise InvalidRecord(f"{name} must be a non-empty string, got {value!r}")
    if len(value) > max_len:
        raise InvalidRecord(f"{name} longer than {max_len} characters: {value[:max_len]!r}...")
    return value
