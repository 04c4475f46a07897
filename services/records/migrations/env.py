"""Alembic environment of the records schema.

services.records.migrate runs this with a ready connection in
`config.attributes["connection"]`, so no alembic.ini and no URL with a password in a
config file are needed.  Run from the alembic CLI, it falls back to `sqlalchemy.url`.
"""

from __future__ import annotations

import logging

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlalchemy.engine import Connection

from services.history import sql_schema
from services.ingest import receipts
from services.records import dead_letters
from services.records.models import Base

logger = logging.getLogger(__name__)

config = context.config
# Every table these migrations create, so autogenerate never proposes dropping the
# history or ingest tables just because they are declared outside the records models.
target_metadata = [Base.metadata, sql_schema.metadata, receipts.metadata,
                   dead_letters.metadata]


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def _run_with(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=bool(url and url.startswith("sqlite")),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
        return
    engine = engine_from_config(config.get_section(config.config_ini_section, {}),
                                prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as fresh:
        _run_with(fresh)
        fresh.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
