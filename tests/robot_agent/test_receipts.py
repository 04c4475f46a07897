"""End-to-end receipts on the agent side, against a real Mosquitto.

A row with a seq leaves the outbox only when a receipt on tonypi/receipts/<robot_id>
covers it (services/wire/receipts.py); until then it is sent again after every
reconnect and after a receipt timeout.  The receipts here come from a test client, as
the ingest would send them.
"""

from __future__ import annotations

import json
import logging
import socket

import pytest

from robot_agent.config import MqttConfig
from robot_agent.outbox import Outbox
from robot_agent.publisher import Publisher
from services.wire.receipts import encode_receipts, receipt_topic
from tests.robot_agent.helpers import (
    ReceiptEcho,
    Subscriber,
    agent_config,
    make_agent,
    seqs,
)
from tests.robot_agent.test_outbox import make_old_outbox
from tests.support.waiting import wait_until

ROBOT = "rcpt_bot"
TOPIC = f"tonypi/performance/{ROBOT}"


def fill(outbox: Outbox, count: int) -> None:
    for _ in range(count):
        outbox.put_with_seq(lambda seq: (TOPIC, json.dumps({"seq": seq}).encode()))


def make_publisher(port: int, outbox: Outbox, **kwargs) -> Publisher:
    kwargs.setdefault("reconnect_min_delay_s", 1)
    kwargs.setdefault("reconnect_max_delay_s", 1)
    return Publisher(MqttConfig(host="127.0.0.1", port=port), ROBOT, outbox, **kwargs)


def receipt(ranges, robot_id: str = ROBOT) -> bytes:
    body = {"v": 1, "robot_id": robot_id, "ts": "2026-12-06T04:00:00+00:00",
            "ranges": [list(r) for r in ranges]}
    return json.dumps(body).encode()


def send_receipt_until(sender: Subscriber, payload: bytes, done, what: str,
                       topic: str = receipt_topic(ROBOT)) -> None:
    """The publisher's receipt subscription lands a moment after its CONNACK: repeat the
    (idempotent) receipt until it has been applied."""
    def applied():
        if done():
            return True
        sender.publish(topic, payload)
        return False
    wait_until(applied, 10, interval_s=0.1, message=what)


@pytest.fixture
def watcher(mosquitto):
    sub = Subscriber(mosquitto.port, [f"tonypi/+/{ROBOT}"])
    yield sub
    sub.close()


def test_rows_stay_after_puback_until_a_receipt_covers_them(tmp_path, mosquitto, watcher):
    outbox = Outbox(tmp_path / "o.db")
    fill(outbox, 50)
    publisher = make_publisher(mosquitto.port, outbox)
    publisher.start()
    try:
        wait_until(lambda: publisher.stats().acked >= 50, message="50 PUBACKs")
        watcher.wait_for(lambda m: len(seqs(m, ROBOT)) >= 50)
        assert not publisher.drain(0.3)  # acknowledged by the broker is not enough
        assert outbox.count() == 50
        stats = publisher.stats()
        assert stats.unconfirmed == 50 and stats.in_flight == 0 and stats.confirmed == 0

        send_receipt_until(watcher, receipt([(1, 20), (30, 50)]),
                           lambda: outbox.count() == 9, "41 rows confirmed")
        assert [r.seq for r in outbox.pending(limit=100)] == list(range(21, 30))
        send_receipt_until(watcher, receipt([(21, 29)]), lambda: outbox.count() == 0,
                           "every row confirmed")
        assert publisher.drain(5)
        stats = publisher.stats()
        assert stats.confirmed == 50 and stats.unconfirmed == 0 and stats.bad_receipts == 0
        assert stats.receipts >= 2
    finally:
        publisher.stop()


def test_foreign_and_malformed_receipts_are_counted_never_acted_on(tmp_path, mosquitto,
                                                                  watcher, caplog):
    outbox = Outbox(tmp_path / "o.db")
    fill(outbox, 10)
    publisher = make_publisher(mosquitto.port, outbox)
    publisher.start()
    try:
        wait_until(lambda: publisher.stats().acked >= 10, message="10 PUBACKs")
        # a first valid receipt proves the subscription is live ...
        send_receipt_until(watcher, receipt([(1, 1)]), lambda: outbox.count() == 9,
                           "seq 1 confirmed")
        with caplog.at_level(logging.WARNING, logger="robot_agent.publisher"):
            # ... so these arrive, in order, before the valid one sent after them
            watcher.publish(receipt_topic(ROBOT), receipt([(1, 10)], robot_id="other_bot"))
            watcher.publish(receipt_topic(ROBOT), b"{not json")
            watcher.publish(receipt_topic(ROBOT), receipt([(5, 2)]))  # first > last
            # another robot's topic, in case a subscription ever matched it
            publisher._on_receipt(receipt_topic("other_bot"),
                                  encode_receipts("other_bot", range(1, 11))[0][1])
            send_receipt_until(watcher, receipt([(2, 2)]), lambda: outbox.count() == 8,
                               "seq 2 confirmed")
        assert [r.seq for r in outbox.pending(limit=100)] == list(range(3, 11))
        stats = publisher.stats()
        assert stats.bad_receipts == 4 and stats.confirmed == 2
        warnings = [r.getMessage() for r in caplog.records if "bad receipt" in r.getMessage()]
        assert len(warnings) == 1, warnings  # rate-limited: one line for the burst
    finally:
        publisher.stop()


def test_unconfirmed_rows_are_sent_again_after_a_reconnect(tmp_path, mosquitto, watcher):
    outbox = Outbox(tmp_path / "o.db")
    fill(outbox, 30)
    publisher = make_publisher(mosquitto.port, outbox, max_in_flight=10)
    publisher.start()
    try:
        wait_until(lambda: publisher.stats().acked >= 30, message="30 PUBACKs")
        watcher.wait_for(lambda m: len(seqs(m, ROBOT)) >= 30)
        assert publisher.stats().resent == 0
        publisher._client.socket().shutdown(socket.SHUT_RDWR)  # as if the broker crashed
        messages = watcher.wait_for(lambda m: len(seqs(m, ROBOT)) >= 60, timeout_s=10)
        received = seqs(messages, ROBOT)
        assert received[30:60] == list(range(1, 31))  # everything again, in order
        stats = publisher.stats()
        assert stats.reconnects == 1 and stats.resent == 30 and stats.resends == 1
        assert outbox.count() == 30
        send_receipt_until(watcher, receipt([(1, 30)]), lambda: outbox.count() == 0,
                           "every row confirmed")
        assert publisher.drain(5)
    finally:
        publisher.stop()


def test_rows_survive_a_broker_restart_and_are_sent_again(tmp_path, mosquitto):
    outbox = Outbox(tmp_path / "o.db")
    fill(outbox, 20)
    publisher = make_publisher(mosquitto.port, outbox)
    publisher.start()
    try:
        wait_until(lambda: publisher.stats().acked >= 20, message="20 PUBACKs")
        mosquitto.stop()  # nobody subscribed: the broker kept none of them
        mosquitto.start()
        late = Subscriber(mosquitto.port, [f"tonypi/+/{ROBOT}"])
        try:
            messages = late.wait_for(lambda m: set(range(1, 21)) <= set(seqs(m, ROBOT)),
                                     timeout_s=10)
            assert sorted(set(seqs(messages, ROBOT))) == list(range(1, 21))
            send_receipt_until(late, receipt([(1, 20)]), lambda: outbox.count() == 0,
                               "every row confirmed")
        finally:
            late.close()
    finally:
        publisher.stop()


def test_no_receipt_within_the_timeout_sends_again_with_back_off(tmp_path, mosquitto,
                                                                 watcher, caplog):
    outbox = Outbox(tmp_path / "o.db")
    fill(outbox, 5)
    publisher = make_publisher(mosquitto.port, outbox, receipt_timeout_s=0.6,
                               receipt_timeout_max_s=2.4)
    with caplog.at_level(logging.WARNING, logger="robot_agent.publisher"):
        publisher.start()
        try:
            watcher.wait_for(lambda m: len(seqs(m, ROBOT)) >= 5)
            # 0.6 s, then 1.2 s, then 2.4 s (the cap) with no receipt: three more rounds
            messages = watcher.wait_for(lambda m: len(seqs(m, ROBOT)) >= 20, timeout_s=15)
            assert seqs(messages, ROBOT)[:20] == list(range(1, 6)) * 4
            assert publisher.stats().reconnects == 0  # the timeout did it, not a reconnect
            assert publisher._timeout_s == 2.4
            assert any("no receipt" in r.getMessage() for r in caplog.records)
            # a receipt resets the back-off and ends the re-sending
            send_receipt_until(watcher, receipt([(1, 5)]), lambda: outbox.count() == 0,
                               "every row confirmed")
            wait_until(lambda: publisher._timeout_s == 0.6, message="back-off reset")
            stats = publisher.stats()
            assert stats.resends >= 3 and stats.resent >= 15
        finally:
            publisher.stop()


def test_receipts_keep_the_timeout_from_firing_while_the_oldest_row_moves(
        tmp_path, mosquitto):
    outbox = Outbox(tmp_path / "o.db")
    echo = ReceiptEcho(mosquitto.port, ROBOT)
    publisher = make_publisher(mosquitto.port, outbox, receipt_timeout_s=1.0)
    publisher.start()
    try:
        assert publisher.wait_connected(5)
        for _ in range(30):  # a steady stream for ~3 receipt timeouts
            fill(outbox, 5)
            publisher.wake()
            wait_until(lambda: outbox.count() == 0, message="stream confirmed")
            publisher._stopping.wait(0.1)
        assert sorted(echo.snapshot()) == list(range(1, 151))  # no seq twice
        assert publisher.stats().resends == 0
    finally:
        publisher.stop()
        echo.close()


def test_a_full_outbox_still_drops_the_oldest_unconfirmed_rows(tmp_path, mosquitto,
                                                               watcher, caplog):
    outbox = Outbox(tmp_path / "o.db", max_messages=20)
    publisher = make_publisher(mosquitto.port, outbox)
    publisher.start()
    try:
        assert publisher.wait_connected(5)
        with caplog.at_level(logging.WARNING, logger="robot_agent.outbox"):
            fill(outbox, 15)
            publisher.wake()
            wait_until(lambda: publisher.stats().acked >= 15, message="15 PUBACKs")
            fill(outbox, 15)  # nothing was confirmed: the 10 oldest must go
            outbox._log_drops(force=True)  # flush the rate-limited report
        assert outbox.count() == 20 and outbox.dropped_total == 10
        assert [r.seq for r in outbox.pending(limit=100)] == list(range(11, 31))
        drops = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
        assert drops and "oldest" in drops[0] and "max_messages=20" in drops[0]
        assert sum(int(line.split()[2]) for line in drops) == 10
    finally:
        publisher.stop()


def test_rows_without_a_seq_are_done_at_puback(tmp_path, mosquitto, watcher):
    path = tmp_path / "old.db"
    make_old_outbox(path, rows=3)  # written by an agent from before receipts
    outbox = Outbox(path)
    fill(outbox, 3)
    publisher = make_publisher(mosquitto.port, outbox)
    publisher.start()
    try:
        wait_until(lambda: publisher.stats().acked >= 6, message="6 PUBACKs")
        wait_until(lambda: outbox.count() == 3, message="old rows deleted")
        assert [r.seq for r in outbox.pending(limit=10)] == [3, 4, 5]
    finally:
        publisher.stop()


def test_await_receipts_off_deletes_at_puback_and_ignores_receipts(tmp_path, mosquitto,
                                                                   watcher):
    outbox = Outbox(tmp_path / "o.db")
    fill(outbox, 40)
    publisher = make_publisher(mosquitto.port, outbox, await_receipts=False)
    publisher.start()
    try:
        assert publisher.drain(5)
        assert outbox.count() == 0 and publisher.stats().acked == 40
        watcher.publish(receipt_topic(ROBOT), receipt([(1, 40)]))
        publisher._client.socket().shutdown(socket.SHUT_RDWR)
        wait_until(lambda: publisher.stats().reconnects == 1 and publisher.connected,
                   message="reconnected")
        fill(outbox, 1)
        publisher.wake()
        assert publisher.drain(5)
        messages = watcher.wait_for(lambda m: 41 in seqs(m, ROBOT))
        assert seqs(messages, ROBOT) == list(range(1, 42))  # nothing sent twice
        stats = publisher.stats()
        assert stats.receipts == 0 and stats.resent == 0 and stats.unconfirmed == 0
    finally:
        publisher.stop()


def test_agent_with_receipts_empties_its_outbox_and_stops_confirmed(tmp_path, mosquitto):
    echo = ReceiptEcho(mosquitto.port, "test_bot")
    agent = make_agent(agent_config(tmp_path, mosquitto.port, await_receipts=True))
    agent.start()
    try:
        wait_until(lambda: len(echo.snapshot()) >= 30, message="30 messages")
        echo.confirming.clear()  # the ingest goes away
        wait_until(lambda: agent.stats()["outbox_unconfirmed"] >= 10, message="unconfirmed")
        echo.confirming.set()
        # rows sent while nobody confirmed wait for the receipt timeout or a reconnect
        agent.publisher._client.socket().shutdown(socket.SHUT_RDWR)
    finally:
        agent.stop(drain_timeout_s=10)
        echo.close()
    assert agent.outbox.count() == 0
    stats = agent.stats()
    assert stats["receipts"] > 0 and stats["resent"] > 0 and stats["bad_receipts"] == 0
    last = agent.outbox.next_seq() - 1
    assert set(echo.snapshot()) == set(range(1, last + 1))


def health(announce: bool, state: str = "online", instance: str = "tonypi-ingest") -> bytes:
    from datetime import UTC, datetime

    from services.wire.ingest_health import IngestHealth, encode_health

    return encode_health(IngestHealth(instance=instance, state=state, ts=datetime.now(UTC),
                                      announce=announce))


def test_an_ingest_announcing_it_reconnected_gets_the_unconfirmed_rows_again(
        tmp_path, mosquitto, watcher):
    """A broker crash loses what it queued for the ingest: when the ingest says it is
    back, the agent re-sends at once instead of waiting for its receipt timeout."""
    outbox = Outbox(tmp_path / "o.db")
    fill(outbox, 20)
    publisher = make_publisher(mosquitto.port, outbox, receipt_timeout_s=3600)
    publisher.start()
    try:
        watcher.wait_for(lambda m: len(seqs(m, ROBOT)) >= 20)
        wait_until(lambda: publisher.stats().acked >= 20, message="20 PUBACKs")
        topic = "tonypi/ingest/tonypi-ingest"
        watcher.publish(topic, health(announce=False))  # a periodic report: no re-send
        watcher.publish(topic, health(announce=True, state="offline"))
        watcher.publish(topic, b"{not a report")
        wait_until(lambda: publisher.stats().bad_receipts >= 1, message="bad report seen")
        assert publisher.stats().resends == 0

        def announced():
            watcher.publish(topic, health(announce=True))
            return len(seqs(watcher.snapshot(), ROBOT)) >= 40
        wait_until(announced, 10, interval_s=0.5, message="rows sent again")
        assert seqs(watcher.snapshot(), ROBOT)[20:40] == list(range(1, 21))
        assert publisher.stats().resends >= 1 and outbox.count() == 20
    finally:
        publisher.stop()
