"""Tables of the SQL history store (SQLite embedded, PostgreSQL on a lab server).

Alembic revisions 0002 (samples, sample_series) and 0004 (sample_rollups) in
services/records/migrations/versions/ create exactly these tables; production never
calls `metadata.create_all`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
)

ROBOT_ID_MAX_CHARS = 64
MEASUREMENT_MAX_CHARS = 32
FIELD_MAX_CHARS = 64
SERIES_MAX_CHARS = 64
ROLLUP_WIDTH_US = 60_000_000  # sample_rollups intervals: whole UTC minutes

metadata = MetaData()

# SQLite only aliases INTEGER PRIMARY KEY (not BIGINT) to its rowid, so the variant keeps
# SQLite from building a second b-tree for the id.
samples = Table(
    "samples",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
           autoincrement=True),
    Column("robot_id", String(ROBOT_ID_MAX_CHARS), nullable=False),
    Column("measurement", String(MEASUREMENT_MAX_CHARS), nullable=False),
    Column("field", String(FIELD_MAX_CHARS), nullable=False),
    Column("series", String(SERIES_MAX_CHARS), nullable=False, server_default=""),
    Column("ts_us", BigInteger, nullable=False),  # UTC microseconds since the epoch
    Column("value", Float, nullable=False),
    Column("seq", BigInteger, nullable=True),  # message sequence number, for loss checks
)

# One index serves as the idempotency key (ON CONFLICT DO NOTHING) and as the range
# index of every history query: equality on the first four columns, range on ts_us.
ux_samples_point = Index(
    "ux_samples_point",
    samples.c.robot_id, samples.c.measurement, samples.c.field, samples.c.series,
    samples.c.ts_us,
    unique=True,
)

# The catalog lets list_robots/list_fields answer without touching the samples table.
sample_series = Table(
    "sample_series",
    metadata,
    Column("robot_id", String(ROBOT_ID_MAX_CHARS), nullable=False),
    Column("measurement", String(MEASUREMENT_MAX_CHARS), nullable=False),
    Column("field", String(FIELD_MAX_CHARS), nullable=False),
    Column("series", String(SERIES_MAX_CHARS), nullable=False, server_default=""),
    Column("first_us", BigInteger, nullable=False),
    Column("last_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("robot_id", "measurement", "field", "series",
                         name="pk_sample_series"),
)

# Per-minute aggregates, kept in step with `samples` by every write (same transaction),
# so a 30-day chart reads 43,200 rows per series instead of 1.3 million.  min/max/sum/
# count rather than mean: they merge exactly into any coarser interval.  WITHOUT ROWID
# makes SQLite store the rows in primary-key order, so a range read is one contiguous
# scan with no second lookup per row.
sample_rollups = Table(
    "sample_rollups",
    metadata,
    Column("robot_id", String(ROBOT_ID_MAX_CHARS), nullable=False),
    Column("measurement", String(MEASUREMENT_MAX_CHARS), nullable=False),
    Column("field", String(FIELD_MAX_CHARS), nullable=False),
    Column("series", String(SERIES_MAX_CHARS), nullable=False, server_default=""),
    Column("bucket_us", BigInteger, nullable=False),  # start of a ROLLUP_WIDTH_US interval
    Column("min", Float, nullable=False),
    Column("max", Float, nullable=False),
    Column("sum", Float, nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint("robot_id", "measurement", "field", "series", "bucket_us",
                         name="pk_sample_rollups"),
    sqlite_with_rowid=False,
)
