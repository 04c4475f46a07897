from __future__ import annotations

import logging
import sqlite3
import threading

import pytest

from robot_agent.outbox import Outbox


def test_pending_returns_rows_in_insertion_order_and_after_id(tmp_path):
    box = Outbox(tmp_path / "o.db")
    ids = [box.put(f"t/{i}", f"p{i}".encode(), qos=1, retain=i == 2) for i in range(5)]
    rows = box.pending(limit=10)
    assert [r.id for r in rows] == ids
    assert [r.payload for r in rows] == [b"p0", b"p1", b"p2", b"p3", b"p4"]
    assert [r.retain for r in rows] == [False, False, True, False, False]
    assert [r.id for r in box.pending(limit=2, after_id=ids[1])] == ids[2:4]
    assert box.delete([ids[0], ids[3], 999_999]) == 2
    assert [r.id for r in box.pending(limit=10)] == [ids[1], ids[2], ids[4]]
    assert box.count() == 3


def test_rows_and_sequence_survive_reopen(tmp_path):
    path = tmp_path / "o.db"
    box = Outbox(path)
    first = [box.put_with_seq(lambda seq: ("t", str(seq).encode()))[1] for _ in range(3)]
    assert first == [1, 2, 3]
    box.delete([r.id for r in box.pending(limit=1)])
    box.close()

    again = Outbox(path)
    assert again.count() == 2
    assert [r.payload for r in again.pending(limit=10)] == [b"2", b"3"]
    assert again.next_seq() == 4
    assert again.put_with_seq(lambda seq: ("t", b"x"))[1] == 5
    # WAL with synchronous=NORMAL, as promised
    assert again._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert again._db.execute("PRAGMA synchronous").fetchone()[0] == 1


def test_failed_build_consumes_neither_seq_nor_row(tmp_path):
    box = Outbox(tmp_path / "o.db")

    def broken(seq):
        raise RuntimeError("encoder failed")

    with pytest.raises(RuntimeError):
        box.put_with_seq(broken)
    assert box.count() == 0
    assert box.put_with_seq(lambda seq: ("t", b"x"))[1] == 1


def test_full_outbox_drops_oldest_counts_and_warns(tmp_path, caplog):
    box = Outbox(tmp_path / "o.db", max_messages=5)
    with caplog.at_level(logging.WARNING, logger="robot_agent.outbox"):
        for i in range(8):
            box.put("t", str(i).encode())
        box.close()  # flushes the rate-limited drop report
    again = Outbox(tmp_path / "o.db", max_messages=5)
    assert [r.payload for r in again.pending(limit=10)] == [b"3", b"4", b"5", b"6", b"7"]
    assert box.dropped_total == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings, "dropping must be reported"
    assert "oldest" in warnings[0] and "max_messages=5" in warnings[0]
    assert sum(int(w.split()[2]) for w in warnings) == 3  # "outbox dropped N oldest ..."


def test_rows_older_than_max_age_are_dropped(tmp_path, caplog):
    now = [1_000_000.0]
    box = Outbox(tmp_path / "o.db", max_age_s=60, clock=lambda: now[0])
    box.put("t", b"old")
    now[0] += 30
    box.put("t", b"newer")
    now[0] += 45  # "old" is 75 s old, "newer" 45 s
    with caplog.at_level(logging.WARNING, logger="robot_agent.outbox"):
        box.put("t", b"newest")
        box.close()
    again = Outbox(tmp_path / "o.db", max_age_s=60, clock=lambda: now[0])
    assert [r.payload for r in again.pending(limit=10)] == [b"newer", b"newest"]
    assert box.dropped_total == 1
    assert any("max_age_s=60" in r.getMessage() for r in caplog.records)


def test_concurrent_writers_and_deleter(tmp_path):
    box = Outbox(tmp_path / "o.db")
    per_thread, writers = 300, 4
    deleted: list[int] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def write():
        try:
            for _ in range(per_thread):
                box.put_with_seq(lambda seq: ("t", str(seq).encode()))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    def delete():
        while not done.is_set():
            rows = box.pending(limit=50)
            box.delete(r.id for r in rows)
            deleted.extend(int(r.payload) for r in rows)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    deleter = threading.Thread(target=delete)
    deleter.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    deleter.join()
    assert not errors
    remaining = [int(r.payload) for r in box.pending(limit=10_000)]
    assert sorted(deleted + remaining) == list(range(1, per_thread * writers + 1))
    assert box.count() == len(remaining)
    # rows were written in seq order: ids and seqs rise together
    assert remaining == sorted(remaining)
    check = sqlite3.connect(tmp_path / "o.db")
    assert check.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == len(remaining)


def test_confirm_deletes_exactly_the_rows_whose_seq_is_in_the_ranges(tmp_path):
    box = Outbox(tmp_path / "o.db")
    for _ in range(10):
        box.put_with_seq(lambda seq: ("t", str(seq).encode()))
    plain = box.put("t", b"no seq")  # confirmed by PUBACK, never by a receipt
    assert [r.seq for r in box.pending(limit=20)] == [*range(1, 11), None]
    assert box.confirm([(2, 4), (7, 7), (9, 1000)]) == 6
    assert [r.seq for r in box.pending(limit=20)] == [1, 5, 6, 8, None]
    assert box.confirm([(2, 4)]) == 0  # a repeated receipt changes nothing
    assert box.confirm([]) == 0
    assert box.count() == 5
    assert box.oldest_with_seq() == box.pending(limit=1)[0].id
    assert box.count_with_seq_upto(plain) == 4
    # one range delete goes through the index, not a scan of the outbox
    plan = box._db.execute("EXPLAIN QUERY PLAN DELETE FROM messages "
                           "WHERE seq BETWEEN 1 AND 5").fetchall()
    assert "messages_seq" in str(plan), plan
    box.close()
    assert Outbox(tmp_path / "o.db").count() == 5


OLD_SCHEMA = """
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,
    qos INTEGER NOT NULL, retain INTEGER NOT NULL, created_at REAL NOT NULL);
CREATE INDEX messages_created_at ON messages (created_at);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta VALUES ('seq', 2);
"""


def make_old_outbox(path, rows=2):
    """An outbox file as an agent from before receipts left it."""
    import time as _time

    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
        for seq in range(1, rows + 1):
            db.execute("INSERT INTO messages (topic, payload, qos, retain, created_at) "
                       "VALUES ('t', ?, 1, 0, ?)", (str(seq).encode(), _time.time()))
    db.close()


def test_an_old_outbox_file_is_upgraded_in_place(tmp_path, caplog):
    path = tmp_path / "old.db"
    make_old_outbox(path)
    with caplog.at_level(logging.INFO, logger="robot_agent.outbox"):
        box = Outbox(path)
    assert any("upgraded" in r.getMessage() for r in caplog.records)
    assert [(r.payload, r.seq) for r in box.pending(limit=10)] == [(b"1", None), (b"2", None)]
    assert box.put_with_seq(lambda seq: ("t", str(seq).encode()))[1] == 3  # seq continues
    assert box.confirm([(1, 3)]) == 1  # the old rows carry no seq: only the new one goes
    assert [r.payload for r in box.pending(limit=10)] == [b"1", b"2"]
    box.close()
    again = Outbox(path)  # a second open finds nothing to upgrade
    columns = [row[1] for row in again._db.execute("PRAGMA table_info(messages)")]
    assert columns.count("seq") == 1
    indexes = {row[1] for row in again._db.execute("PRAGMA index_list(messages)")}
    assert "messages_seq" in indexes
