"""Every records test runs twice: on an SQLite file and on a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.records.db import Database
from services.records.migrate import upgrade


@pytest.fixture(params=["sqlite", "postgresql"])
def records_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def db(records_url: str) -> Iterator[Database]:
    upgrade(records_url)
    database = Database(records_url)
    yield database
    database.dispose()
