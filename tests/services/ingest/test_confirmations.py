"""Which seqs the ingest confirms: only from a robot's own topic, never on shared ones."""

from datetime import UTC, datetime

from services.ingest.confirmations import Confirmations, claimed_seq, own_topic_robot
from services.wire.encode import encode
from services.wire.parse import parse_message


def test_own_topic_robot():
    assert own_topic_robot("tonypi/logs/r1") == "r1"
    assert own_topic_robot("tonypi/battery") is None
    assert own_topic_robot("tonypi/commands/response") is None
    assert own_topic_robot("tonypi/logs/bad id") is None


def test_a_refused_message_is_confirmed_only_when_it_plainly_carries_a_seq():
    topic, payload = encode("logs", "r1", 7, {"level": "NOPE", "message": "x"})
    assert claimed_seq(topic, payload) == ("r1", 7)
    assert claimed_seq("tonypi/battery", payload) is None  # shared topic: whose is it?
    assert claimed_seq(topic, b'{"v": true, "seq": 7}') is None
    assert claimed_seq(topic, b'{"v": 1, "seq": 7.0}') is None
    assert claimed_seq(topic, b'{"v": 1, "seq": 0}') is None
    assert claimed_seq(topic, b"\xff") is None
    assert claimed_seq(topic, b"[]") is None


def test_messages_confirm_their_seq_only_on_their_own_topic():
    now = datetime.now(UTC)
    confirmations = Confirmations()
    confirmations.add_message(parse_message(*encode("logs", "r1", 3, {"message": "m"}), now))
    legacy = parse_message("tonypi/logs/r1", b'{"robot_id": "r1", "message": "m"}', now)
    confirmations.add_message(legacy)  # no seq: nothing to confirm
    confirmations.add(None)
    confirmations.add(("r2", 9))
    assert len(confirmations) == 2
