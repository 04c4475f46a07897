"""Declarative models of the records schema (the original design's PostgreSQL schema).

The tables are created by the Alembic migrations in services/records/migrations, never
by `metadata.create_all`; the test suite checks that both describe the same schema.

Robots are deactivated (is_active = false), not deleted: jobs, alerts, thresholds and
reports reference robots.robot_id.  System logs do not, so a log line about a robot
that never registered is still stored.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.records.types import PortableJSON, UtcDateTime

ROBOT_STATUSES = ("online", "offline", "error", "maintenance")
JOB_STATUSES = ("active", "completed", "failed", "cancelled")
TERMINAL_JOB_STATUSES = frozenset({"completed", "failed", "cancelled"})
USER_ROLES = ("admin", "operator", "viewer")
ALERT_EVENTS = ("raised", "escalated", "acknowledged", "resolved")
ROBOT_ID_MAX_LEN = 50
JOB_KEY_MAX_LEN = 100
TASK_NAME_MAX_LEN = 100

# Deterministic constraint names: Alembic batch mode on SQLite and later migrations
# refer to constraints by name, and PostgreSQL's generated names differ from SQLite's.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NOW_SQL = text("CURRENT_TIMESTAMP")


def utc_now() -> datetime:
    return datetime.now(UTC)


def _in_list(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)  # constants of this module only
    return f"{column} IN ({quoted})"


def _robot_fk() -> ForeignKey:
    return ForeignKey("robots.robot_id")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        Index("idx_users_username", "username"),
        Index("idx_users_email", "email"),
        Index("idx_users_role", "role"),
        CheckConstraint(_in_list("role", USER_ROLES), name="role"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True,
                                    default=lambda: str(uuid.uuid4()))
    username: Mapped[str] = mapped_column(String(50), unique=True)
    email: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str | None] = mapped_column(String(20), default="viewer",
                                             server_default="viewer")
    is_active: Mapped[bool | None] = mapped_column(Boolean, default=True,
                                                   server_default=text("true"))
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=utc_now,
                                                        server_default=NOW_SQL)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, onupdate=utc_now)


class Robot(Base):
    __tablename__ = "robots"
    __table_args__ = (
        Index("idx_robots_robot_id", "robot_id"),
        Index("idx_robots_status", "status"),
        Index("idx_robots_is_active", "is_active"),
        CheckConstraint(_in_list("status", ROBOT_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    robot_id: Mapped[str] = mapped_column(String(ROBOT_ID_MAX_LEN), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    location: Mapped[Any] = mapped_column(PortableJSON, nullable=True)
    status: Mapped[str | None] = mapped_column(String(20), default="offline",
                                               server_default="offline")
    ip_address: Mapped[str | None] = mapped_column(String(45))
    camera_url: Mapped[str | None] = mapped_column(String(255))
    battery_threshold_low: Mapped[float | None] = mapped_column(
        Float, default=20.0, server_default=text("20.0"))
    battery_threshold_critical: Mapped[float | None] = mapped_column(
        Float, default=10.0, server_default=text("10.0"))
    temp_threshold_warning: Mapped[float | None] = mapped_column(
        Float, default=70.0, server_default=text("70.0"))
    temp_threshold_critical: Mapped[float | None] = mapped_column(
        Float, default=80.0, server_default=text("80.0"))
    settings: Mapped[Any] = mapped_column(PortableJSON, nullable=True)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=utc_now,
                                                        server_default=NOW_SQL)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, onupdate=utc_now)
    is_active: Mapped[bool | None] = mapped_column(Boolean, default=True,
                                                   server_default=text("true"))


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("idx_jobs_robot_id", "robot_id"),
        Index("idx_jobs_status", "status"),
        Index("idx_jobs_start_time", "start_time"),
        Index("idx_jobs_created_at", "created_at"),
        CheckConstraint(_in_list("status", JOB_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    robot_id: Mapped[str] = mapped_column(String(ROBOT_ID_MAX_LEN), _robot_fk())
    start_time: Mapped[datetime] = mapped_column(UtcDateTime)
    end_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    items_total: Mapped[int | None] = mapped_column(Integer)
    items_done: Mapped[int | None] = mapped_column(Integer, default=0, server_default=text("0"))
    percent_complete: Mapped[float | None] = mapped_column(Float, default=0.0,
                                                           server_default=text("0.0"))
    last_item: Mapped[Any] = mapped_column(PortableJSON, nullable=True)
    status: Mapped[str | None] = mapped_column(String(20), default="active",
                                               server_default="active")
    task_name: Mapped[str | None] = mapped_column(String(TASK_NAME_MAX_LEN))
    job_key: Mapped[str | None] = mapped_column(String(JOB_KEY_MAX_LEN))  # robot-side identity
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=utc_now,
                                                        server_default=NOW_SQL)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, onupdate=utc_now)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("idx_alerts_robot_id", "robot_id"),
        Index("idx_alerts_alert_type", "alert_type"),
        Index("idx_alerts_severity", "severity"),
        Index("idx_alerts_acknowledged", "acknowledged"),
        Index("idx_alerts_resolved", "resolved"),
        Index("idx_alerts_created_at", "created_at"),
        # One open alert per (robot, type, source), even with two ingest instances; the
        # predicate text must equal the ON CONFLICT target's (services.alerts.store).
        Index("ux_alerts_open", "robot_id", "alert_type", "source", unique=True,
              postgresql_where=text("resolved = false"), sqlite_where=text("resolved = false")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    robot_id: Mapped[str | None] = mapped_column(String(ROBOT_ID_MAX_LEN), _robot_fk())
    alert_type: Mapped[str] = mapped_column(String(50))
    severity: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    acknowledged: Mapped[bool | None] = mapped_column(Boolean, default=False,
                                                      server_default=text("false"))
    acknowledged_by: Mapped[str | None] = mapped_column(String(50))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved: Mapped[bool | None] = mapped_column(Boolean, default=False,
                                                  server_default=text("false"))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    details: Mapped[Any] = mapped_column(PortableJSON, nullable=True)
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=utc_now,
                                                        server_default=NOW_SQL)


class AlertEvent(Base):
    """One step of an alert's life (raised, escalated, acknowledged, resolved)."""

    __tablename__ = "alert_events"
    __table_args__ = (
        Index("idx_alert_events_alert_id", "alert_id"),
        CheckConstraint(_in_list("event", ALERT_EVENTS), name="event"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(Integer, ForeignKey("alerts.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str | None] = mapped_column(String(50))
    details: Mapped[Any] = mapped_column(PortableJSON, nullable=True)


class AlertThreshold(Base):
    __tablename__ = "alert_thresholds"
    __table_args__ = (
        Index("idx_alert_thresholds_robot_id", "robot_id"),
        Index("idx_alert_thresholds_metric_type", "metric_type"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    robot_id: Mapped[str | None] = mapped_column(String(ROBOT_ID_MAX_LEN), _robot_fk())
    metric_type: Mapped[str] = mapped_column(String(50))
    warning_threshold: Mapped[float] = mapped_column(Float)
    critical_threshold: Mapped[float] = mapped_column(Float)
    enabled: Mapped[bool | None] = mapped_column(Boolean, default=True,
                                                 server_default=text("true"))
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=utc_now,
                                                        server_default=NOW_SQL)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, onupdate=utc_now)


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (
        Index("idx_reports_robot_id", "robot_id"),
        Index("idx_reports_report_type", "report_type"),
        Index("idx_reports_created_at", "created_at"),
        Index("idx_reports_title", "title"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    robot_id: Mapped[str | None] = mapped_column(String(ROBOT_ID_MAX_LEN), _robot_fk())
    report_type: Mapped[str] = mapped_column(String(50))
    data: Mapped[Any] = mapped_column(PortableJSON, nullable=True)
    file_path: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=utc_now,
                                                        server_default=NOW_SQL)
    created_by: Mapped[str | None] = mapped_column(String(100))


class SystemLog(Base):
    __tablename__ = "system_logs"
    __table_args__ = (
        Index("idx_system_logs_level", "level"),
        Index("idx_system_logs_category", "category"),
        Index("idx_system_logs_robot_id", "robot_id"),
        Index("idx_system_logs_timestamp", "timestamp"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(50))
    message: Mapped[str] = mapped_column(Text)
    robot_id: Mapped[str | None] = mapped_column(String(ROBOT_ID_MAX_LEN))
    details: Mapped[Any] = mapped_column(PortableJSON, nullable=True)
    timestamp: Mapped[datetime | None] = mapped_column(UtcDateTime, default=utc_now,
                                                       server_default=NOW_SQL)
