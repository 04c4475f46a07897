"""A message a store refuses is set aside as a dead letter; everything else flows on.

Run on SQLite and PostgreSQL with a real Mosquitto.  The refusal is the database's own:
a trigger that refuses a log line, as a CHECK constraint or a type limit would.
"""

from __future__ import annotations

import io
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import create_engine, text

from services.admin_cli import build_parser, run
from services.history.sql_store import SqlHistoryStore
from services.records import dead_letters
from services.records.db import Database
from services.records.migrate import upgrade
from services.records.repositories import LogRepository
from services.settings import IngestSettings
from services.wire.encode import encode
from services.wire.receipts import decode_receipt, receipt_topic
from tests.support.pipeline import Publisher, start_ingest
from tests.support.processes import start_ingest as start_ingest_process
from tests.support.waiting import wait_until

# The shipped defaults: "at most a second" must hold with them, not with test timings.
DEFAULTS = IngestSettings(stats_interval_s=3600)
MAX_DELAY_S = 1.0

PG_REFUSE = """
CREATE FUNCTION refuse_poison() RETURNS trigger AS $$
BEGIN
  IF NEW.message LIKE '%POISON%' THEN
    RAISE EXCEPTION 'poison refused' USING ERRCODE = '22023';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER refuse_poison BEFORE INSERT ON system_logs
  FOR EACH ROW EXECUTE FUNCTION refuse_poison();
"""
SQLITE_REFUSE = """
CREATE TRIGGER refuse_poison BEFORE INSERT ON system_logs
WHEN NEW.message GLOB '*POISON*' BEGIN SELECT RAISE(ABORT, 'poison refused'); END;
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def records_url(request) -> str:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    upgrade(url)
    return url


def refuse_poison(url: str, on: bool = True) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(PG_REFUSE if on else "DROP TRIGGER refuse_poison ON system_logs"))
        else:
            conn.exec_driver_sql(SQLITE_REFUSE if on else "DROP TRIGGER refuse_poison")
    engine.dispose()


class Receipts:
    """Collects the receipts the ingest sends one robot."""

    def __init__(self, port: int, robot_id: str) -> None:
        self.robot_id = robot_id
        self.seqs: set[int] = set()
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(receipt_topic(robot_id), qos=1)
        self.client.loop_start()
        assert self._subscribed.wait(5)

    def _on_message(self, client, userdata, message) -> None:
        ranges = decode_receipt(self.robot_id, message.topic, message.payload)
        with self._lock:
            for first, last in ranges:
                self.seqs.update(range(first, last + 1))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def log_message(robot_id: str, seq: int, message: str) -> tuple[str, bytes]:
    return encode("logs", robot_id, seq, {"level": "INFO", "message": message})


def battery(robot_id: str, seq: int) -> tuple[str, bytes]:
    return encode("battery", robot_id, seq, {"percentage": 80.0, "voltage": 11.9})


def stored_battery_seqs(url: str, robot_id: str) -> set[int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        seqs = {r[0] for r in conn.execute(text(
            "SELECT seq FROM samples WHERE robot_id = :r AND measurement = 'battery'"),
            {"r": robot_id})}
    engine.dispose()
    return seqs


def wait_stored_within(url: str, robot_id: str, seq: int, sent_at: float) -> float:
    wait_until(lambda: seq in stored_battery_seqs(url, robot_id), timeout_s=10,
               interval_s=0.01, message=f"{robot_id} seq {seq} stored")
    return time.monotonic() - sent_at


def test_refused_message_becomes_a_dead_letter_and_the_rest_is_stored(mosquitto, records_url):
    refuse_poison(records_url)
    pipe = start_ingest(mosquitto.port, records_url, settings=DEFAULTS)
    publisher = Publisher(mosquitto.port, qos=1)
    receipts = Receipts(mosquitto.port, "victim")
    try:
        for seq in range(1, 21):
            publisher.send(*log_message("victim", seq, "POISON" if seq == 7 else f"ok {seq}"))
        sent_at = time.monotonic()
        publisher.send(*battery("bystander", 1))
        delay = wait_stored_within(records_url, "bystander", 1, sent_at)
        assert delay < MAX_DELAY_S, f"another robot's data waited {delay:.2f} s"
        wait_until(lambda: pipe.service.stats().dead_lettered == 1, message="dead letter")
        wait_until(lambda: receipts.seqs >= set(range(1, 21)), message="all confirmed")
        stats = pipe.service.stats()
        assert (stats.stored, stats.rejected, stats.records_failures) == (20, 0, 0)
        with pipe.db.session() as session:
            texts = [log.message for log in LogRepository(session).list(robot_id="victim")
                     if log.category != "mqtt"]  # the ingest's own lines (registered...)
            (letter,) = dead_letters.list_all(session)
        assert sorted(texts) == sorted(f"ok {n}" for n in range(1, 21) if n != 7)
        assert letter.topic == "tonypi/logs/victim" and letter.robot_id == "victim"
        assert json.loads(letter.payload)["seq"] == 7
        assert "poison refused" in letter.error
    finally:
        receipts.close()
        publisher.close()
        pipe.stop()


def test_dead_letters_are_listed_shown_and_replayed_with_tonypi_admin(mosquitto, records_url):
    refuse_poison(records_url)
    pipe = start_ingest(mosquitto.port, records_url)
    publisher = Publisher(mosquitto.port, qos=1)
    try:
        publisher.send(*log_message("replayer", 1, "POISON \u00e9 1"))
        publisher.send(*log_message("replayer", 2, "POISON 2"))
        wait_until(lambda: pipe.service.stats().dead_lettered == 2, message="dead letters")
    finally:
        publisher.close()
        pipe.stop()
    db = Database(records_url)
    store = SqlHistoryStore(records_url)

    def admin(*argv: str) -> str:
        out = io.StringIO()
        run(build_parser().parse_args(list(argv)), db, io.StringIO(), out,
            history=lambda: store)
        return out.getvalue()

    try:
        listing = admin("dead-letters", "list")
        assert listing.count("tonypi/logs/replayer") == 2 and "poison refused" in listing
        first = int(listing.split()[0])
        assert "POISON \\u00e9 1" in admin("dead-letters", "show", str(first))
        with pytest.raises(Exception, match="could not be stored"):
            admin("dead-letters", "replay", str(first))  # the cause is still there
        refuse_poison(records_url, on=False)
        assert "replayed 2 dead letter(s); 0 still fail" in admin("dead-letters", "replay",
                                                                  "--all")
        assert admin("dead-letters", "list").startswith("no dead letters")
        with db.session() as session:
            texts = {log.message for log in LogRepository(session).list(robot_id="replayer")}
        assert texts >= {"POISON \u00e9 1", "POISON 2"}
    finally:
        db.dispose()


def test_the_same_message_again_counts_instead_of_a_new_row(records_url):
    db = Database(records_url)
    now = datetime.now(UTC)
    try:
        for n in range(3):
            with db.session() as session:
                dead_letters.record(session, "tonypi/logs/x\x00y", b"\x00\xff{bytes}",
                                    "bad \ud800 error", "x", now + timedelta(seconds=n))
        with db.session() as session:
            (letter,) = dead_letters.list_all(session)
        assert letter.count == 3 and letter.payload == b"\x00\xff{bytes}"
        assert letter.last_seen == now + timedelta(seconds=2) and letter.first_seen == now
        assert "\x00" not in letter.topic and "\ud800" not in letter.error
    finally:
        db.dispose()


# The classes of poison from issue 10: each must cost another robot at most a second.
POISON = {
    "nul_in_text": lambda seq: log_message("hostile", seq, "a\x00b"),
    "nul_in_json": lambda seq: encode("job", "hostile", seq, {
        "status": "working", "job_id": "j1", "last_item": {"name": "x\x00y"}}),
    "out_of_range_integer": lambda seq: encode("job", "hostile", seq, {
        "status": "working", "job_id": "j2", "items_total": 3_000_000_000}),
    "huge_number": lambda seq: _raw("job", seq, '{"status":"working","job_id":"j3",'
                                                '"last_item":1e400}'),
    "lone_surrogate": lambda seq: _raw("logs", seq, '{"level":"INFO","message":"a\\ud800b"}'),
    "nul_escape_in_ip": lambda seq: ("tonypi/status/hostile", json.dumps({
        "robot_id": "hostile", "status": "online", "ip_address": "10.0.0.1\x00",
        "system_info": {"cpu_percent": 5.0}}).encode()),
    "deep_last_item": lambda seq: encode("job", "hostile", seq, {
        "status": "working", "job_id": "j4", "last_item": _deep(40)}),
    "huge_last_item": lambda seq: encode("job", "hostile", seq, {
        "status": "working", "job_id": "j5", "last_item": "x" * 200_000}),
}


def _raw(kind: str, seq: int, data_json: str) -> tuple[str, bytes]:
    """An own-format message whose data is raw JSON text (json.dumps cannot write it)."""
    ts = datetime.now(UTC).isoformat()
    return (f"tonypi/{kind}/hostile", f'{{"v":1,"robot_id":"hostile","seq":{seq},'
                                       f'"ts":"{ts}","data":{data_json}}}'.encode())


def _deep(depth: int):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("poison", sorted(POISON))
def test_no_poison_holds_another_robot_back(mosquitto, records_url, poison):
    pipe = start_ingest(mosquitto.port, records_url, settings=DEFAULTS)
    publisher = Publisher(mosquitto.port, qos=1)
    try:
        for seq in (1, 2):
            publisher.send(*POISON[poison](seq))
            sent_at = time.monotonic()
            publisher.send(*battery("bystander", seq))
            delay = wait_stored_within(records_url, "bystander", seq, sent_at)
            assert delay < MAX_DELAY_S, f"{poison}: another robot waited {delay:.2f} s"

        # Each poison is accounted for: refused by the parser, stored (repaired) or
        # dead-lettered, and no store was ever taken for "down".
        def handled() -> int:
            s = pipe.service.stats()
            return s.rejected + s.stored + s.dead_lettered + s.duplicates
        wait_until(lambda: handled() == 4, message="all four handled")
        stats = pipe.service.stats()
        assert (stats.records_failures, stats.store_failures) == (0, 0)
    finally:
        publisher.close()
        pipe.stop()


def test_poison_after_an_ingest_sigkill_and_restart(mosquitto, records_url, tmp_path,
                                                   monkeypatch):
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")  # a SIGKILLed ingest keeps its log lines
    refuse_poison(records_url)
    publisher = Publisher(mosquitto.port, qos=1)
    ingest = start_ingest_process(mosquitto.port, records_url, records_url, tmp_path)
    db = Database(records_url)

    def letter_count() -> int:
        with db.session() as session:
            return sum(letter.count for letter in dead_letters.list_all(session))

    try:
        poison = log_message("victim", 1, "POISON again")  # redelivered as the same bytes
        for round_, seq in enumerate((1, 2), start=1):
            publisher.send(*poison)
            sent_at = time.monotonic()
            publisher.send(*battery("bystander", seq))
            delay = wait_stored_within(records_url, "bystander", seq, sent_at)
            assert delay < MAX_DELAY_S, f"round {round_}: another robot waited {delay:.2f} s"
            wait_until(lambda r=round_: letter_count() >= r, message="poison dead-lettered")
            ingest.kill()
            ingest = start_ingest_process(mosquitto.port, records_url, records_url, tmp_path)
        with db.session() as session:
            (letter,) = dead_letters.list_all(session)
        assert letter.count == 2  # the same message twice: one row, counted
        with db.session() as session:
            texts = {log.message for log in LogRepository(session).list(robot_id="victim")}
        assert "POISON again" not in texts
    finally:
        db.dispose()
        publisher.close()
        ingest.stop()
