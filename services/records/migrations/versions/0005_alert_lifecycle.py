"""Alert lifecycle: one open alert per (robot, type, source), an event history, disk limits.

Revision ID: 0005
Revises: 0004

The partial unique index is what keeps two ingest instances from opening the same alert
twice: both insert with ON CONFLICT DO NOTHING on it, and only one row survives.  Alerts
left open twice by earlier versions are resolved here first (all but the newest of each
key), or the index could not be built.
Written by hand and self-contained, like the revisions before it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.records.types import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
OPEN_ALERT = sa.text("resolved = false")  # the same text as the model's index predicate
DISK_WARNING_PCT = 80.0
DISK_CRITICAL_PCT = 95.0


def upgrade() -> None:
    _resolve_duplicate_open_alerts()
    op.create_index("ux_alerts_open", "alerts", ["robot_id", "alert_type", "source"],
                    unique=True, postgresql_where=OPEN_ALERT, sqlite_where=OPEN_ALERT)
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(50), nullable=True),
        sa.Column("details", JSON_TYPE, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_events"),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE",
                                name="fk_alert_events_alert_id_alerts"),
        sa.CheckConstraint("event IN ('raised', 'escalated', 'acknowledged', 'resolved')",
                           name="ck_alert_events_event"),
    )
    op.create_index("idx_alert_events_alert_id", "alert_events", ["alert_id"])
    op.execute(_seed_disk_threshold())


def _resolve_duplicate_open_alerts() -> None:
    alerts = sa.table("alerts", sa.column("id", sa.Integer()), sa.column("robot_id"),
                      sa.column("alert_type"), sa.column("source"),
                      sa.column("resolved", sa.Boolean()))
    newer = alerts.alias("newer")
    has_newer_twin = sa.exists().where(
        newer.c.robot_id == alerts.c.robot_id, newer.c.alert_type == alerts.c.alert_type,
        newer.c.source == alerts.c.source, newer.c.resolved == sa.false(),
        newer.c.id > alerts.c.id)
    op.execute(alerts.update().where(alerts.c.resolved == sa.false(), has_newer_twin)
               .values(resolved=True))


def _seed_disk_threshold() -> sa.Insert:
    thresholds = sa.table("alert_thresholds", sa.column("robot_id"), sa.column("metric_type"),
                          sa.column("warning_threshold"), sa.column("critical_threshold"),
                          sa.column("enabled", sa.Boolean()))
    # Only where no global disk rule exists yet: an operator may have set one already.
    missing = ~sa.exists().where(thresholds.c.robot_id.is_(None),
                                 thresholds.c.metric_type == "disk")
    values = sa.select(sa.null(), sa.literal("disk"), sa.literal(DISK_WARNING_PCT),
                       sa.literal(DISK_CRITICAL_PCT), sa.true()).where(missing)
    return thresholds.insert().from_select(
        ["robot_id", "metric_type", "warning_threshold", "critical_threshold", "enabled"],
        values)


def downgrade() -> None:
    thresholds = sa.table("alert_thresholds", sa.column("robot_id"), sa.column("metric_type"))
    op.execute(thresholds.delete().where(thresholds.c.robot_id.is_(None),
                                         thresholds.c.metric_type == "disk"))
    op.drop_index("idx_alert_events_alert_id", table_name="alert_events")
    op.drop_table("alert_events")
    op.drop_index("ux_alerts_open", table_name="alerts")
