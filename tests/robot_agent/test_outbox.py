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
