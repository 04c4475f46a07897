"""Ingest receipts: (robot, seq) of messages whose record side effects were applied.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.records.types import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_receipts",
        sa.Column("robot_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
    )
    op.create_index("idx_ingest_receipts_received_at", "ingest_receipts", ["received_at"])


def downgrade() -> None:
    op.drop_index("idx_ingest_receipts_received_at", table_name="ingest_receipts")
    op.drop_table("ingest_receipts")
