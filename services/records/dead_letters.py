"""Dead letters: messages a store refused, kept for an engineer to read and replay.

A message that parses but that a store will never take (a value PostgreSQL refuses, an
InfluxDB 400) must not hold every other robot's data back, and must not vanish either.
The ingest stores it here (the raw payload as bytes, so nothing about it is lost or
re-encoded), acknowledges it, and moves on; `tonypi-admin dead-letters` lists, shows,
replays and deletes them.  The same (topic, payload) seen again (a redelivery after a
crash, a robot repeating itself) bumps `count` and `last_seen` instead of a new row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.records.types import UtcDateTime

ERROR_MAX_CHARS = 2000
TOPIC_MAX_CHARS = 1000

metadata = MetaData()
dead_letters = Table(
    "dead_letters", metadata,
    Column("id", Integer, primary_key=True),
    Column("topic", String(TOPIC_MAX_CHARS), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("payload_sha256", String(64), nullable=False),
    Column("robot_id", String(64)),
    Column("error", Text, nullable=False),
    Column("first_seen", UtcDateTime(), nullable=False),
    Column("last_seen", UtcDateTime(), nullable=False),
    Column("count", Integer, nullable=False),
    UniqueConstraint("topic", "payload_sha256", name="uq_dead_letters_message"),
)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    topic: str
    payload: bytes
    robot_id: str | None
    error: str
    first_seen: datetime
    last_seen: datetime
    count: int


def storable_text(value: str, max_chars: int) -> str:
    """Text every backend takes: no NUL, no lone surrogate (both are refused by
    PostgreSQL, and a dead letter must never be refused for the reason it exists)."""
    cleaned = value.replace("\x00", "\\x00")
    cleaned = cleaned.encode("utf-8", "backslashreplace").decode("utf-8")
    return cleaned[:max_chars]


def record(session: Session, topic: str, payload: bytes, error: str, robot_id: str | None,
           at: datetime) -> None:
    """Insert a dead letter, or count it again if the same message is already here."""
    values = {
        "topic": storable_text(topic, TOPIC_MAX_CHARS),
        "payload": bytes(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "robot_id": robot_id,
        "error": storable_text(error, ERROR_MAX_CHARS),
        "first_seen": at, "last_seen": at, "count": 1,
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(dead_letters).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=["topic", "payload_sha256"],
        set_={"count": dead_letters.c.count + 1, "last_seen": statement.excluded.last_seen,
              "error": statement.excluded.error})
    session.execute(statement)


def list_all(session: Session, limit: int = 100,
             ids: Iterable[int] | None = None) -> list[DeadLetter]:
    """Oldest first; only the letters `ids` names when given."""
    query = select(dead_letters).order_by(dead_letters.c.id).limit(limit)
    if ids is not None:
        query = query.where(dead_letters.c.id.in_(list(ids)))
    return [_letter(row) for row in session.execute(query)]


def get(session: Session, letter_id: int) -> DeadLetter | None:
    row = session.execute(select(dead_letters).where(dead_letters.c.id == letter_id)).first()
    return None if row is None else _letter(row)


def remove(session: Session, letter_id: int) -> bool:
    return bool(session.execute(
        delete(dead_letters).where(dead_letters.c.id == letter_id)).rowcount)


def note_failed_replay(session: Session, letter_id: int, error: str, at: datetime) -> None:
    session.execute(update(dead_letters).where(dead_letters.c.id == letter_id).values(
        error=storable_text(error, ERROR_MAX_CHARS), last_seen=at))


def _letter(row) -> DeadLetter:
    return DeadLetter(id=row.id, topic=row.topic, payload=bytes(row.payload),
                      robot_id=row.robot_id, error=row.error, first_seen=row.first_seen,
                      last_seen=row.last_seen, count=row.count)
