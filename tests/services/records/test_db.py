from __future__ import annotations

import logging

import pytest
from sqlalchemy import select, text

from services.records.db import Database
from services.records.errors import RecordsUnavailable
from services.records.migrate import current_revision, upgrade
from services.records.models import Robot
from tests.support.servers import free_port

SECRET = "s3cr3t-Pa55w0rd"


def test_session_commits_on_success_and_rolls_back_on_error(db):
    with db.session() as session:
        session.add(Robot(robot_id="kept"))
    with pytest.raises(RuntimeError), db.session() as session:
        session.add(Robot(robot_id="dropped"))
        session.flush()
        raise RuntimeError("boom")
    with db.session() as session:
        ids = session.scalars(select(Robot.robot_id)).all()
    assert ids == ["kept"]


def test_dead_postgres_raises_records_unavailable_without_password(caplog):
    port = free_port()  # nothing listens there
    caplog.set_level(logging.DEBUG)
    database = Database(f"postgresql://tonypi@127.0.0.1:{port}/records", password=SECRET)
    try:
        assert database.url.drivername == "postgresql+psycopg"
        assert database.url.password == SECRET  # injected into the URL object
        assert SECRET not in repr(database)
        with pytest.raises(RecordsUnavailable) as caught, database.session() as session:
            session.execute(text("select 1"))
        message = str(caught.value)
        assert f"127.0.0.1:{port}" in message
        assert SECRET not in message
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
        with pytest.raises(RecordsUnavailable):
            database.check()
    finally:
        database.dispose()
    assert SECRET not in caplog.text


def test_password_in_url_string_is_masked_too(caplog):
    port = free_port()
    caplog.set_level(logging.DEBUG)
    url = f"postgresql+psycopg://tonypi:{SECRET}@127.0.0.1:{port}/records"
    with pytest.raises(RecordsUnavailable) as caught:
        upgrade(url)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(Database(url))
    assert SECRET not in caplog.text


def test_unreachable_sqlite_file_raises_records_unavailable(tmp_path):
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'records.db'}"
    with pytest.raises(RecordsUnavailable, match="missing-dir"):
        current_revision(url)


def test_password_reaches_a_live_server(pg_url):
    # The test cluster trusts local connections, so any password is accepted: this shows
    # the URL object carries it to the driver and the database still answers.
    database = Database(pg_url, password=SECRET)
    try:
        with database.session() as session:
            assert session.execute(text("select 1")).scalar() == 1
        assert SECRET not in repr(database)
    finally:
        database.dispose()


def test_sqlite_uses_wal_and_enforces_foreign_keys(sqlite_url):
    upgrade(sqlite_url)
    database = Database(sqlite_url)
    try:
        with database.session() as session:
            assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert session.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
    finally:
        database.dispose()
