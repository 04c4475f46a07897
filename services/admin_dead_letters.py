"""`tonypi-admin dead-letters ...`: what an engineer does with messages a store refused."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TextIO

from services.history.base import HistoryStore
from services.ingest.replay import replay
from services.records import dead_letters
from services.records.db import Database
from services.records.errors import RecordsError

PREVIEW_BYTES = 120


class DeadLetterNotFound(RecordsError, LookupError):
    """No dead letter has this id."""


def _preview(payload: bytes, limit: int = PREVIEW_BYTES) -> str:
    """Printable whatever the bytes are: a dead letter may hold anything."""
    text = payload[:limit].decode("utf-8", "backslashreplace")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text + ("..." if len(payload) > limit else "")


def _stamp(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def run_dead_letters(args: argparse.Namespace, database: Database, out: TextIO,
                     history: Callable[[], HistoryStore] | None) -> None:
    if args.action == "list":
        with database.session() as session:
            letters = dead_letters.list_all(session, limit=10_000)
        if not letters:
            out.write("no dead letters: every message received was stored\n")
        for letter in letters:
            out.write(f"{letter.id}  {_stamp(letter.last_seen)}  x{letter.count}  "
                      f"{letter.topic}  {letter.error[:100]}\n")
        return
    if args.action == "show":
        with database.session() as session:
            letter = dead_letters.get(session, args.id)
        if letter is None:
            raise DeadLetterNotFound(f"no dead letter {args.id}")
        out.write(f"id:         {letter.id}\ntopic:      {letter.topic}\n"
                  f"robot:      {letter.robot_id or '-'}\ncount:      {letter.count}\n"
                  f"first seen: {_stamp(letter.first_seen)}\n"
                  f"last seen:  {_stamp(letter.last_seen)}\nerror:      {letter.error}\n"
                  f"payload ({len(letter.payload)} bytes): "
                  f"{_preview(letter.payload, 4000)}\n")
        return
    if args.action == "delete":
        with database.session() as session:
            gone = [i for i in args.ids if dead_letters.remove(session, i)]
        missing = sorted(set(args.ids) - set(gone))
        out.write(f"deleted {len(gone)} dead letter(s)\n")
        if missing:
            raise DeadLetterNotFound(f"no dead letter {', '.join(map(str, missing))}")
        return
    if history is None:
        raise RecordsError("replay needs the history store settings")
    store = history()
    try:
        result = replay(database, store, None if args.all else args.ids)
    finally:
        store.close()
    out.write(f"replayed {len(result.stored)} dead letter(s); {len(result.failed)} still "
              "fail\n")
    for letter_id, error in sorted(result.failed.items()):
        out.write(f"  {letter_id}: {error}\n")
    if result.missing:
        raise DeadLetterNotFound(f"no dead letter {', '.join(map(str, result.missing))}")
    if result.failed:
        raise RecordsError(f"{len(result.failed)} dead letter(s) could not be stored")
