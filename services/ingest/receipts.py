"""Durable (robot, seq) receipts, so record side effects happen once per message.

Samples are idempotent in every history store; job events and log lines are not, and a
message redelivered after a crash must not start a second job or log a line twice.
Receipts are written in the same transaction as those side effects.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    MetaData,
    String,
    Table,
    and_,
    delete,
    or_,
    select,
)
from sqlalchemy.orm import Session

from services.records.types import UtcDateTime

metadata = MetaData()
ingest_receipts = Table(
    "ingest_receipts", metadata,
    Column("robot_id", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Index("idx_ingest_receipts_received_at", "received_at"),
)
LOOKUP_CHUNK = 200


def already_seen(session: Session, keys: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
    keys = list(keys)
    seen: set[tuple[str, int]] = set()
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start:start + LOOKUP_CHUNK]
        condition = or_(*(and_(ingest_receipts.c.robot_id == r, ingest_receipts.c.seq == s)
                          for r, s in chunk))
        rows = session.execute(select(ingest_receipts.c.robot_id, ingest_receipts.c.seq)
                               .where(condition))
        seen.update((r, s) for r, s in rows)
    return seen


def record(session: Session, keys: Iterable[tuple[str, int]], at: datetime) -> None:
    rows = [{"robot_id": r, "seq": s, "received_at": at} for r, s in keys]
    if rows:
        session.execute(ingest_receipts.insert(), rows)


def prune(session: Session, before: datetime) -> int:
    result = session.execute(delete(ingest_receipts).where(ingest_receipts.c.received_at < before))
    return result.rowcount or 0
