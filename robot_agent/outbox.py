"""A durable outbox: every message is written to SQLite before anything tries to send it.

Rows leave the outbox only when they are confirmed (or when the bounds policy drops
them), so a broker outage, a broker crash or an agent crash loses nothing that fits.
A row stored with `put_with_seq` carries its seq in the `seq` column and is confirmed by
an end-to-end receipt from the ingest (`confirm`, see services/wire/receipts.py); a row
without a seq (`put`, or written by an agent from before the column existed) is confirmed
by the broker's PUBACK (`delete`).  The
per-robot sequence number lives in the same database and is allocated in the same
transaction as the row that carries it, so a crash can never leave a gap in `seq` that
would look like message loss downstream.

Bounds policy: when more than `max_messages` rows are waiting, or rows are older than
`max_age_s`, the OLDEST rows are dropped (the newest data is what an operator needs
after an outage), counted in `dropped_total` and reported with a WARNING.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

AGE_CHECK_INTERVAL_S = 1.0  # the age bound need not be exact to the millisecond
DROP_LOG_INTERVAL_S = 10.0  # a persistently full outbox must not flood the log
SQLITE_BUSY_TIMEOUT_S = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    created_at REAL NOT NULL,
    seq INTEGER
);
CREATE INDEX IF NOT EXISTS messages_created_at ON messages (created_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
# After the upgrade below: an outbox file from before receipts has no `seq` column yet.
_SEQ_INDEX = "CREATE INDEX IF NOT EXISTS messages_seq ON messages (seq)"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    created_at: float  # seconds since the epoch (survives restarts, unlike monotonic)
    seq: int | None = None  # None: confirmed by the broker's PUBACK, not by a receipt


class Outbox:
    def __init__(self, path: str | Path, max_messages: int = 200_000,
                 max_age_s: float = 7 * 24 * 3600.0, seq_key: str = "seq",
                 clock: Callable[[], float] = time.time) -> None:
        if max_messages < 1 or max_age_s <= 0:
            raise ValueError("outbox bounds must be positive")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_messages = max_messages
        self.max_age_s = max_age_s
        self._seq_key = seq_key
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=SQLITE_BUSY_TIMEOUT_S)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._upgrade()
        self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, 0)", (seq_key,))
        self._count = self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        self.dropped_total = 0
        self._unlogged_drops: dict[str, int] = {}
        self._last_drop_log = -DROP_LOG_INTERVAL_S
        self._last_age_check = -AGE_CHECK_INTERVAL_S
        with self._lock:
            self._begin()
            self._enforce_bounds(force_age_check=True)
            self._db.execute("COMMIT")
            self._log_drops(force=True)

    def _upgrade(self) -> None:
        """Add the `seq` column to an outbox written by an older agent, in place.

        Rows already there keep a NULL seq: they are deleted on PUBACK, as they were
        promised when written."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(messages)")}
        if "seq" not in columns:
            self._db.execute("ALTER TABLE messages ADD COLUMN seq INTEGER")
            logger.info("outbox %s upgraded: rows now wait for end-to-end receipts",
                        self.path)
        self._db.execute(_SEQ_INDEX)

    # -- writing ------------------------------------------------------------------------

    def put(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Store one message durably; return its row id."""
        return self._put(lambda _seq: (topic, payload), qos, retain, allocate_seq=False)[0]

    def put_with_seq(self, build: Callable[[int], tuple[str, bytes]], qos: int = 1,
                     retain: bool = False) -> tuple[int, int]:
        """Allocate the next seq and store the message `build(seq)` returns, atomically.

        Returns (row id, seq).  If `build` raises, neither the seq nor a row is kept.
        """
        return self._put(build, qos, retain, allocate_seq=True)

    def next_seq(self) -> int:
        """Allocate a sequence number on its own (prefer `put_with_seq`)."""
        with self._lock:
            self._begin()
            try:
                seq = self._allocate_seq()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return seq

    def _put(self, build: Callable[[int], tuple[str, bytes]], qos: int, retain: bool,
             allocate_seq: bool) -> tuple[int, int]:
        if qos not in (0, 1, 2):
            raise ValueError(f"qos must be 0, 1 or 2, got {qos!r}")
        with self._lock:
            dropped_before, unlogged_before = self.dropped_total, dict(self._unlogged_drops)
            self._begin()
            try:
                seq = self._allocate_seq() if allocate_seq else 0
                topic, payload = build(seq)
                row_id = self._db.execute(
                    "INSERT INTO messages (topic, payload, qos, retain, created_at, seq) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (topic, bytes(payload), qos, int(retain), self._clock(),
                     seq if allocate_seq else None),
                ).lastrowid
                self._count += 1
                self._enforce_bounds()
            except BaseException:
                self._db.execute("ROLLBACK")
                self._count = self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
                self.dropped_total, self._unlogged_drops = dropped_before, unlogged_before
                raise
            self._db.execute("COMMIT")
            self._log_drops()
            return row_id, seq

    def _begin(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def _allocate_seq(self) -> int:
        return self._db.execute(
            "UPDATE meta SET value = value + 1 WHERE key = ? RETURNING value", (self._seq_key,)
        ).fetchone()[0]

    def _enforce_bounds(self, force_age_check: bool = False) -> None:
        now = self._clock()
        if force_age_check or now - self._last_age_check >= AGE_CHECK_INTERVAL_S:
            self._last_age_check = now
            gone = self._db.execute("DELETE FROM messages WHERE created_at < ?",
                                    (now - self.max_age_s,)).rowcount
            self._record_drop(gone, f"older than max_age_s={self.max_age_s:g}")
        excess = self._count - self.max_messages
        if excess > 0:
            gone = self._db.execute(
                "DELETE FROM messages WHERE id IN "
                "(SELECT id FROM messages ORDER BY id LIMIT ?)", (excess,)).rowcount
            self._record_drop(gone, f"outbox full (max_messages={self.max_messages})")

    def _record_drop(self, rows: int, reason: str) -> None:
        if rows > 0:
            self._count -= rows
            self.dropped_total += rows
            self._unlogged_drops[reason] = self._unlogged_drops.get(reason, 0) + rows

    def _log_drops(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self._unlogged_drops or (
                not force and now - self._last_drop_log < DROP_LOG_INTERVAL_S):
            return
        self._last_drop_log = now
        for reason, rows in self._unlogged_drops.items():
            logger.warning("outbox dropped %d oldest message(s): %s; %d dropped in total",
                           rows, reason, self.dropped_total)
        self._unlogged_drops.clear()

    # -- reading and acknowledging ------------------------------------------------------

    def pending(self, limit: int = 100, after_id: int | None = None) -> list[OutboxRow]:
        """Up to `limit` waiting rows in insertion order, after row `after_id` if given."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain, created_at, seq FROM messages "
                "WHERE id > ? ORDER BY id LIMIT ?", (after_id or 0, limit)).fetchall()
        return [OutboxRow(r[0], r[1], bytes(r[2]), r[3], bool(r[4]), r[5], r[6])
                for r in rows]

    def confirm(self, ranges: Iterable[tuple[int, int]]) -> int:
        """Remove the rows whose seq lies in one of the inclusive `ranges` (a receipt);
        return how many.  Seqs no longer here (confirmed twice, dropped) are ignored."""
        return self._delete_all(  # one indexed range delete per range
            ("DELETE FROM messages WHERE seq BETWEEN ? AND ?", (int(first), int(last)))
            for first, last in ranges)

    def oldest_with_seq(self) -> int | None:
        """The id of the oldest row that waits for a receipt, or None."""
        with self._lock:
            row = self._db.execute("SELECT id FROM messages WHERE seq IS NOT NULL "
                                   "ORDER BY id LIMIT 1").fetchone()
        return None if row is None else row[0]

    def count_with_seq_upto(self, row_id: int) -> int:
        """How many rows up to `row_id` wait for a receipt (for statistics only)."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM messages WHERE id <= ? AND "
                                    "seq IS NOT NULL", (row_id,)).fetchone()[0]

    def delete(self, ids: Iterable[int]) -> int:
        """Remove rows by id (PUBACKed rows without a seq, rows paho refuses); ids already
        gone (confirmed, dropped by the bounds) are ignored."""
        id_list = list(ids)
        chunks = (id_list[start:start + 500]  # SQLite's parameter limit
                  for start in range(0, len(id_list), 500))
        return self._delete_all(
            (f"DELETE FROM messages WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            for chunk in chunks)

    def _delete_all(self, statements: Iterable[tuple[str, Sequence]]) -> int:
        """Run the DELETE statements in one transaction; return the rows gone."""
        statements = list(statements)
        if not statements:
            return 0
        with self._lock:
            self._begin()
            gone = 0
            try:
                for sql, params in statements:
                    gone += self._db.execute(sql, params).rowcount
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._count -= gone
            return gone

    def count(self) -> int:
        with self._lock:
            return self._count

    def close(self) -> None:
        with self._lock:
            self._log_drops(force=True)
            self._db.close()
