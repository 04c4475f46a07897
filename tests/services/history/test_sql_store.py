"""What only the SQL history store promises: errors, schema, index use, counters, catalog."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, inspect, select, text

from services.history import sql_schema
from services.history.base import StoreError
from services.history.sql_schema import sample_series
from services.history.sql_store import SqlHistoryStore, SqlStoreStats, bucket_select, to_epoch_us
from services.records.migrate import downgrade, upgrade
from services.wire.model import Measurement
from tests.services.history.support import (
    T0,
    prepare_sql_schema,
    sample,
    seconds,
)
from tests.support.servers import free_port


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'history.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    prepare_sql_schema(url)
    return url


@pytest.fixture
def store(db_url) -> Iterator[SqlHistoryStore]:
    store = SqlHistoryStore(db_url)
    yield store
    store.close()


def test_unreachable_postgres_raises_store_error_without_the_password():
    port = free_port()  # nothing listens there
    store = SqlHistoryStore(f"postgresql+psycopg://tonypi@127.0.0.1:{port}/history",
                            password="pa55-w0rd-secret")
    calls = [
        lambda: store.write([sample("r1", T0, cpu_percent=1.0)]),
        lambda: store.query("r1", "performance", "cpu_percent", T0, T0 + seconds(1)),
        store.list_robots,
        lambda: store.list_fields("r1"),
    ]
    for call in calls:
        with pytest.raises(StoreError) as caught:
            call()
        message = str(caught.value)
        assert f"127.0.0.1:{port}" in message
        assert "pa55-w0rd-secret" not in message and "pa55-w0rd-secret" not in repr(caught.value)
    assert store.stats().samples_written == 0
    store.close()


def test_missing_schema_is_a_store_error(tmp_path):
    store = SqlHistoryStore(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(StoreError, match="samples"):
        store.write([sample("r1", T0, cpu_percent=1.0)])
    store.close()


def test_unique_point_index_exists(db_url):
    engine = create_engine(db_url)
    try:
        indexes = {ix["name"]: ix for ix in inspect(engine).get_indexes("samples")}
        pk = inspect(engine).get_pk_constraint("sample_series")
    finally:
        engine.dispose()
    point = indexes["ux_samples_point"]
    assert point["unique"]
    assert point["column_names"] == ["robot_id", "measurement", "field", "series", "ts_us"]
    assert pk["constrained_columns"] == ["robot_id", "measurement", "field", "series"]


def test_migration_builds_exactly_the_declared_schema(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, sql_schema.metadata)
    finally:
        engine.dispose()
    # Only the records tables of revision 0001 may show up, as "not in this metadata".
    ours = {"samples", "sample_series", "sample_rollups"}
    relevant = [d for d in diff if not (d[0] == "remove_table" and d[1].name not in ours)
                and not (d[0] == "remove_index" and d[1].table.name not in ours)]
    assert relevant == []


def test_downgrade_to_0001_removes_the_history_tables(db_url):
    def tables() -> set[str]:
        engine = create_engine(db_url)
        try:
            return set(inspect(engine).get_table_names())
        finally:
            engine.dispose()

    before = tables()
    downgrade(db_url, "0001")  # later revisions go too; the records tables must stay
    after = tables()
    assert {"samples", "sample_series", "sample_rollups"}.isdisjoint(after)
    assert {"users", "robots", "jobs", "alerts", "alert_thresholds", "reports",
            "system_logs"} <= after
    upgrade(db_url)
    assert tables() == before


def _explain(store: SqlHistoryStore, stmt) -> str:
    engine = store.engine
    compiled = stmt.compile(dialect=engine.dialect)
    params = compiled.construct_params()
    if compiled.positional:
        params = tuple(params[name] for name in compiled.positiontup)
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + str(compiled), params).all()
    return "\n".join(" ".join(str(col) for col in row) for row in rows)


def test_query_plan_uses_the_point_index(store):
    # Enough rows that PostgreSQL's planner prefers the index on its own merits.
    robots = [f"robot_{n}" for n in range(20)]
    with store.engine.begin() as conn:
        conn.execute(sql_schema.samples.insert(), [
            {"robot_id": robot, "measurement": "performance", "field": "cpu_percent",
             "series": "", "ts_us": to_epoch_us(T0) + i * 1_000_000, "value": float(i),
             "seq": i}
            for robot in robots for i in range(1000)
        ])
        if store.engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE samples"))
    start_us = to_epoch_us(T0)
    stmt = bucket_select("robot_3", "performance", "cpu_percent", "", start_us,
                         start_us + 600_000_000, 60_000_000)
    plan = _explain(store, stmt)
    assert "ux_samples_point" in plan, plan
    buckets = store.query("robot_3", "performance", "cpu_percent", T0, T0 + seconds(600), 10)
    assert [b.count for b in buckets] == [60] * 10


def test_counters_report_duplicates_and_rejections(store, caplog):
    store.write([sample("r1", T0, cpu_percent=1.0, memory_percent=2.0)])
    store.write([
        sample("r1", T0, cpu_percent=1.0),  # stored already
        sample("r1", T0 + seconds(1), cpu_percent=float("nan"), memory_percent=3.0),
        sample("r1", T0 + seconds(2), cpu_percent=float("inf"), memory_percent=float("-inf")),
        sample("r1", T0 + seconds(3), cpu_percent="high"),  # type: ignore[arg-type]
        sample("x" * 65, T0, cpu_percent=1.0),  # longer than robot_id allows
        sample("nul\x00robot", T0, cpu_percent=1.0),  # PostgreSQL text cannot hold NUL
        sample("r1", T0 + seconds(4), charging=False),
    ])
    assert store.stats() == SqlStoreStats(samples_written=4, duplicates_ignored=1,
                                          rejected_non_finite=3, rejected_invalid=3)
    assert "3 non-finite and 3 invalid" in caplog.text
    memory = store.query("r1", "performance", "memory_percent", T0, T0 + seconds(5), 1)
    assert [(b.min, b.max, b.count) for b in memory] == [(2.0, 3.0, 2)]
    assert store.list_robots() == ["r1"]


def test_naive_sample_time_writes_nothing(store):
    naive = T0.replace(tzinfo=None)
    with pytest.raises(ValueError, match="naive"):
        store.write([sample("r1", T0, cpu_percent=1.0), sample("r1", naive, cpu_percent=2.0)])
    assert store.list_robots() == []
    assert store.stats() == SqlStoreStats()


def _catalog(store: SqlHistoryStore) -> dict:
    with store.engine.connect() as conn:
        rows = conn.execute(select(sample_series)).all()
    return {(r.robot_id, r.measurement, r.field, r.series): (r.first_us, r.last_us)
            for r in rows}


def test_catalog_tracks_first_and_last_times(db_url):
    us = to_epoch_us(T0)
    key = ("r1", "servos", "temperature", "servo_1")
    servo = {"servo_id": "servo_1"}
    first = SqlHistoryStore(db_url)
    first.write([sample("r1", T0 + seconds(10), Measurement.SERVOS, tags=servo, temperature=40.0)])
    first.write([sample("r1", T0 + seconds(20), Measurement.SERVOS, tags=servo, temperature=41.0)])
    assert _catalog(first)[key] == (us + 10_000_000, us + 20_000_000)
    # A second writer (another process, fresh cache) replays older data and a later point.
    second = SqlHistoryStore(db_url)
    second.write([sample("r1", T0 + seconds(5), Measurement.SERVOS, tags=servo, temperature=1.0),
                  sample("r1", T0 + seconds(15), Measurement.SERVOS, tags=servo, temperature=2.0)])
    assert _catalog(second)[key] == (us + 5_000_000, us + 20_000_000)
    # The first writer's cache is stale; its update must not move the range backwards.
    first.write([sample("r1", T0 + seconds(30), Measurement.SERVOS, tags=servo, temperature=3.0)])
    assert _catalog(first)[key] == (us + 5_000_000, us + 30_000_000)
    first.close()
    second.close()


def test_bucket_width_never_opens_an_extra_bucket(store):
    # A span whose float-seconds conversion truncates 1 us short (2_097_145 us): a width
    # of 262_143 us instead of 262_144 would put the last point in a ninth bucket.
    stop = T0 + timedelta(microseconds=2_097_145)
    store.write([sample("r1", T0 + timedelta(microseconds=k * 262_143), cpu_percent=float(k))
                 for k in range(9)])
    buckets = store.query("r1", "performance", "cpu_percent", T0, stop, max_points=8)
    assert len(buckets) == 8
    assert sum(b.count for b in buckets) == 9 and buckets[-1].max == 8.0


def test_concurrent_writers_lose_nothing(store):
    errors: list[BaseException] = []

    def writer(robot: str) -> None:
        try:
            for batch in range(10):
                store.write([sample(robot, T0 + seconds(batch * 50 + i), cpu_percent=float(i))
                             for i in range(50)])
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"r{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert store.stats().samples_written == 4 * 500
    assert store.list_robots() == ["r0", "r1", "r2", "r3"]


def test_an_engine_passed_in_is_left_open(db_url):
    engine = create_engine(db_url)
    store = SqlHistoryStore(engine)
    store.write([sample("r1", T0, cpu_percent=1.0)])
    store.close()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM samples")).scalar() == 1
    engine.dispose()
