from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, inspect, select

from services.records.migrate import current_revision, downgrade, upgrade
from services.records.models import AlertThreshold, Base

TABLES = {"users", "robots", "jobs", "alerts", "alert_thresholds", "reports", "system_logs"}
INDEXES = {
    "users": {"idx_users_username", "idx_users_email", "idx_users_role"},
    "robots": {"idx_robots_robot_id", "idx_robots_status", "idx_robots_is_active"},
    "jobs": {"idx_jobs_robot_id", "idx_jobs_status", "idx_jobs_start_time",
             "idx_jobs_created_at"},
    "alerts": {"idx_alerts_robot_id", "idx_alerts_alert_type", "idx_alerts_severity",
               "idx_alerts_acknowledged", "idx_alerts_resolved", "idx_alerts_created_at"},
    "alert_thresholds": {"idx_alert_thresholds_robot_id", "idx_alert_thresholds_metric_type"},
    "reports": {"idx_reports_robot_id", "idx_reports_report_type", "idx_reports_created_at",
                "idx_reports_title"},
    "system_logs": {"idx_system_logs_level", "idx_system_logs_category",
                    "idx_system_logs_robot_id", "idx_system_logs_timestamp"},
}
DEFAULTS = {"cpu": (70.0, 90.0), "memory": (75.0, 90.0), "temperature": (70.0, 80.0),
            "battery": (20.0, 10.0), "servo_temp": (60.0, 75.0)}


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_creates_tables_and_indexes(db, records_url):
    inspector = inspect(db.engine)
    assert TABLES <= set(inspector.get_table_names())
    for table, expected in INDEXES.items():
        names = {index["name"] for index in inspector.get_indexes(table)}
        assert expected <= names, table
    jobs = {column["name"]: column for column in inspector.get_columns("jobs")}
    assert {"task_name", "job_key", "reason"} <= set(jobs)
    assert jobs["start_time"]["nullable"] is False
    assert jobs["task_name"]["type"].length == 100
    robots = {column["name"] for column in inspector.get_columns("robots")}
    assert {"robot_id", "location", "settings", "last_seen", "is_active"} <= robots
    assert current_revision(records_url) is not None


def test_seeds_global_default_thresholds(db):
    with db.session() as session:
        rows = session.scalars(select(AlertThreshold)).all()
    assert {row.metric_type: (row.warning_threshold, row.critical_threshold)
            for row in rows} == DEFAULTS
    assert all(row.robot_id is None and row.enabled for row in rows)
    assert all(row.created_at is not None for row in rows)


def test_downgrade_to_base_and_upgrade_again(records_url):
    assert current_revision(records_url) is None
    upgrade(records_url, "0001")
    assert current_revision(records_url) == "0001"
    assert TABLES <= _tables(records_url)

    downgrade(records_url, "base")
    assert current_revision(records_url) is None
    assert not TABLES & _tables(records_url)

    upgrade(records_url)
    assert TABLES <= _tables(records_url)
    engine = create_engine(records_url)
    try:
        with engine.connect() as conn:
            count = len(conn.execute(select(AlertThreshold.id)).all())
    finally:
        engine.dispose()
    assert count == len(DEFAULTS)  # seeded once, not twice


def _schema_drift(db, metadata: MetaData) -> list:
    """Autogenerate's differences between the migrated database and `metadata`,
    limited to the tables of `metadata` (later revisions add tables of other packages)."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, metadata)

    def table_name(diff) -> str:
        if isinstance(diff, list):  # modify_*: (op, schema, table, column, ...)
            return diff[0][2]
        if diff[0] in ("add_column", "remove_column"):
            return diff[2]
        target = diff[1]
        return target.name if isinstance(target, Table) else target.table.name

    return [diff for diff in diffs if table_name(diff) in metadata.tables]


def test_models_describe_the_migrated_schema(db):
    """The ORM models and the hand-written migration must not drift apart."""
    assert _schema_drift(db, Base.metadata) == []


def test_schema_drift_check_sees_a_difference(db):
    drifted = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["jobs"].append_column(Column("not_migrated", Integer))
    drift = _schema_drift(db, drifted)
    assert [diff[0] for diff in drift] == ["add_column"]
    assert drift[0][2] == "jobs"


def test_upgrade_is_idempotent(db, records_url):
    before = current_revision(records_url)
    upgrade(records_url)
    assert current_revision(records_url) == before
