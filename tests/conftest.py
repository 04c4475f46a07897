"""Fixtures that start real servers: Mosquitto per test, PostgreSQL once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.servers import Mosquitto, Postgres

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# A headless machine has no keyring; tests never use a real one by accident.
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")


@pytest.fixture
def mosquitto(tmp_path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    server = Postgres()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres_server: Postgres) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    return postgres_server.create_database()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'records.db'}"
