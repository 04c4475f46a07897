"""Replays dead letters through the same parse-and-store path the ingest uses.

Run by an engineer (`tonypi-admin dead-letters replay`) once the cause is fixed: a
newer parser, a widened column, a store that takes the value now.  A letter that stores
is deleted; one that still fails keeps its row with the new error, so nothing is lost by
trying.  Replay writes history and records only: the alert rules saw the message live
already, and the robot got its receipt when the letter was written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.history.base import HistoryStore
from services.ingest.failures import describe
from services.ingest.records_writer import apply_records
from services.records import dead_letters
from services.records.db import Database
from services.wire.parse import ParseError, parse_message

logger = logging.getLogger(__name__)

REPLAY_MAX = 100_000  # letters per replay; payloads are read into memory


@dataclass
class ReplayResult:
    stored: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    missing: list[int] = field(default_factory=list)


def replay(db: Database, store: HistoryStore, letter_ids: Iterable[int] | None = None
           ) -> ReplayResult:
    """Replay the given letters (all of them when None), oldest first."""
    wanted = None if letter_ids is None else set(letter_ids)
    with db.session() as session:
        letters = dead_letters.list_all(session, limit=REPLAY_MAX, ids=wanted)
    result = ReplayResult()
    if wanted is not None:
        result.missing = sorted(wanted - {letter.id for letter in letters})
    for letter in letters:
        error = _replay_one(db, store, letter)
        if error is None:
            with db.session() as session:
                dead_letters.remove(session, letter.id)
            result.stored.append(letter.id)
            logger.info("dead letter %d replayed and stored", letter.id)
        else:
            with db.session() as session:
                dead_letters.note_failed_replay(session, letter.id, error, datetime.now(UTC))
            result.failed[letter.id] = error
            logger.warning("dead letter %d still fails: %s", letter.id, error)
    return result


def _replay_one(db: Database, store: HistoryStore, letter: dead_letters.DeadLetter
                ) -> str | None:
    try:
        message = parse_message(letter.topic, letter.payload, letter.first_seen)
    except ParseError as exc:
        return f"refused by the parser: {exc}"
    try:
        if message.samples:
            store.write(list(message.samples))
        with db.session() as session:
            apply_records(session, [message], datetime.now(UTC))
    except Exception as exc:  # reported per letter; the next one is tried all the same
        return describe(exc)
    return None
