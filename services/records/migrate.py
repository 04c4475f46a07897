"""Create and upgrade the records schema with Alembic, from code (no alembic.ini).

    upgrade("sqlite:////var/lib/tonypi/records.db")
    upgrade("postgresql+psycopg://tonypi@lab-server/tonypi", password=keyring_password)
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from services.records.db import Database, unavailable

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    config.set_main_option("path_separator", "os")
    return config


def _run(url: str | URL, password: str | None, action: str, revision: str) -> None:
    database = Database(url, password=password)
    try:
        try:
            connection = database.engine.connect()
        except OperationalError as exc:
            raise unavailable(database.url, exc) from None
        with connection, connection.begin():
            config = _config()
            config.attributes["connection"] = connection
            logger.info("records schema %s to %s on %s", action, revision,
                        database.describe())
            getattr(command, action)(config, revision)
    finally:
        database.dispose()


def upgrade(url: str | URL, revision: str = "head", *, password: str | None = None) -> None:
    """Bring the schema up to `revision` (default: the newest)."""
    _run(url, password, "upgrade", revision)


def downgrade(url: str | URL, revision: str, *, password: str | None = None) -> None:
    """Take the schema down to `revision` ("base" removes every table)."""
    _run(url, password, "downgrade", revision)


def current_revision(url: str | URL, *, password: str | None = None) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    database = Database(url, password=password)
    try:
        try:
            connection = database.engine.connect()
        except OperationalError as exc:
            raise unavailable(database.url, exc) from None
        with connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        database.dispose()


def head_revision() -> str | None:
    """The newest revision shipped with this package."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()
