"""Connections to the records database: PostgreSQL (psycopg 3) or an SQLite file.

The password never travels in the URL string from a config file: the caller reads it
from the keyring and passes it separately; it is put into the URL object only, and
everything that prints the URL (repr, logs, errors) masks it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from services.records.errors import RecordsUnavailable

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 10.0  # writers from ingest and console wait this long for a lock
PG_CONNECT_TIMEOUT_S = 5  # fail fast when the lab server is down
PG_POOL_SIZE = 5
PG_MAX_OVERFLOW = 10


def _normalize(url: str | URL, password: str | None) -> URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if password is not None:
        parsed = parsed.set(password=password)
    return parsed


def describe(url: URL) -> str:
    """Where the database is, for messages: host:port/db or the SQLite path, no secrets."""
    if url.get_backend_name() == "sqlite":
        return f"sqlite file {url.database or ':memory:'}"
    host = url.host or "localhost"
    port = f":{url.port}" if url.port else ""
    return f"{url.get_backend_name()} at {host}{port}/{url.database or ''}"


def unavailable(url: URL, exc: BaseException) -> RecordsUnavailable:
    """A RecordsUnavailable naming the server and the driver's reason, never the password."""
    orig = getattr(exc, "orig", None) or exc
    reason = " ".join(str(orig).split())
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return RecordsUnavailable(f"records database unavailable: {describe(url)}: {reason}")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is kept on purpose: it sends BEGIN right
    # before the first write, so a read-then-write session waits for the lock (busy
    # timeout) instead of failing on a stale read snapshot when another process wrote.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    finally:
        cursor.close()


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=PG_POOL_SIZE,
        max_overflow=PG_MAX_OVERFLOW,
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
    )


class Database:
    """An engine plus a session factory for one records database."""

    def __init__(self, url: str | URL, *, password: str | None = None) -> None:
        self.url = _normalize(url, password)
        self.engine = _create_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        logger.info("records database: %s", self.describe())

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    def describe(self) -> str:
        return describe(self.url)

    def check(self) -> None:
        """Connect once; raise RecordsUnavailable if the server cannot be reached."""
        try:
            with self.engine.connect():
                pass
        except OperationalError as exc:
            raise unavailable(self.url, exc) from None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block succeeds and rolls back when it raises."""
        session = self._sessions()
        try:
            try:
                session.connection()  # connect now, so a dead server is told apart
            except OperationalError as exc:
                raise unavailable(self.url, exc) from None
            try:
                yield session
                session.commit()
            except DBAPIError as exc:
                if exc.connection_invalidated:
                    raise unavailable(self.url, exc) from None
                raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
