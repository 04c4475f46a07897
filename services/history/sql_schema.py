"""Tables of the SQL history store (SQLite embedded, PostgreSQL on a lab server).

Alembic revision 0002 (services/records/migrations/versions/0002_history_samples.py)
creates exactly these tables; production never calls `metadata.create_all`.
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
