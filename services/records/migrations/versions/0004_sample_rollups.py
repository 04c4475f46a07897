"""Per-minute rollups of history samples, so long-range queries skip the raw rows.

Revision ID: 0004
Revises: 0003

A frozen copy of `sample_rollups` in services/history/sql_schema.py at this revision.
Samples stored before this revision are rolled up here, in the migration's transaction,
because the store answers long ranges from rollups alone and would otherwise miss them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ROLLUP_WIDTH_US = 60_000_000
KEY_COLUMNS = ("robot_id", "measurement", "field", "series")


def upgrade() -> None:
    op.create_table(
        "sample_rollups",
        sa.Column("robot_id", sa.String(64), nullable=False),
        sa.Column("measurement", sa.String(32), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("series", sa.String(64), nullable=False, server_default=""),
        sa.Column("bucket_us", sa.BigInteger(), nullable=False),
        sa.Column("min", sa.Float(), nullable=False),
        sa.Column("max", sa.Float(), nullable=False),
        sa.Column("sum", sa.Float(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*KEY_COLUMNS, "bucket_us", name="pk_sample_rollups"),
        # Clustered by primary key on SQLite; ignored by PostgreSQL.
        sqlite_with_rowid=False,
    )
    op.execute(_backfill())


def _backfill() -> sa.Insert:
    samples = sa.table("samples", *(sa.column(name) for name in KEY_COLUMNS),
                       sa.column("ts_us", sa.BigInteger()), sa.column("value", sa.Float()))
    rollups = sa.table("sample_rollups", *(sa.column(name) for name in KEY_COLUMNS),
                       sa.column("bucket_us"), sa.column("min"), sa.column("max"),
                       sa.column("sum"), sa.column("count"))
    width = sa.literal(ROLLUP_WIDTH_US, sa.BigInteger())
    # SQL's % keeps the dividend's sign; the double modulo floors times before 1970 too.
    points = sa.select(
        *(samples.c[name] for name in KEY_COLUMNS),
        (samples.c.ts_us - ((samples.c.ts_us % width) + width) % width).label("bucket_us"),
        samples.c.value,
    ).subquery("points")
    keys = [points.c[name] for name in (*KEY_COLUMNS, "bucket_us")]
    aggregated = sa.select(*keys, sa.func.min(points.c.value), sa.func.max(points.c.value),
                           sa.func.sum(points.c.value), sa.func.count()).group_by(*keys)
    return rollups.insert().from_select(
        [*KEY_COLUMNS, "bucket_us", "min", "max", "sum", "count"], aggregated)


def downgrade() -> None:
    op.drop_table("sample_rollups")
