"""History samples and their catalog (the SQL history store).

Revision ID: 0002
Revises: 0001

A frozen copy of services/history/sql_schema.py at this revision: later schema changes
get a new revision instead of editing this one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "samples",
        # SQLite aliases only INTEGER PRIMARY KEY to its rowid.
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=True),
        sa.Column("robot_id", sa.String(64), nullable=False),
        sa.Column("measurement", sa.String(32), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("series", sa.String(64), nullable=False, server_default=""),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
    )
    # Idempotency key of writes and range index of queries at once.
    op.create_index("ux_samples_point", "samples",
                    ["robot_id", "measurement", "field", "series", "ts_us"], unique=True)
    op.create_table(
        "sample_series",
        sa.Column("robot_id", sa.String(64), nullable=False),
        sa.Column("measurement", sa.String(32), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("series", sa.String(64), nullable=False, server_default=""),
        sa.Column("first_us", sa.BigInteger(), nullable=False),
        sa.Column("last_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("robot_id", "measurement", "field", "series",
                                name="pk_sample_series"),
    )


def downgrade() -> None:
    op.drop_table("sample_series")
    op.drop_index("ux_samples_point", table_name="samples")
    op.drop_table("samples")
