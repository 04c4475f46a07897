"""Collects which robot seqs a batch handled and publishes them as receipts.

A seq is confirmed once the ingest will never need it again: stored, found already
stored (a repeat), dead-lettered, or refused by the parser (a repeat would be refused
the same way).  Only seqs read from a robot's own topic `tonypi/<kind>/<robot_id>` are
confirmed: the broker's ACL lets only that robot write there, so nobody can have
another robot's messages confirmed (and then deleted from its outbox) unsent.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict

from services.mqtt_session import MqttSession
from services.wire.model import Message
from services.wire.parse import MAX_PAYLOAD_BYTES
from services.wire.receipts import SEQ_MAX, encode_receipts
from services.wire.topics import FORMAT_VERSION, PREFIX, is_valid_robot_id

logger = logging.getLogger(__name__)

RECEIPT_QOS = 1


def own_topic_robot(topic: str) -> str | None:
    """The robot id of a `tonypi/<kind>/<robot_id>` topic, None for shared topics."""
    levels = topic.split("/")
    if len(levels) == 3 and levels[0] == PREFIX and is_valid_robot_id(levels[2]):
        return levels[2]
    return None


def claimed_seq(topic: str, payload: bytes) -> tuple[str, int] | None:
    """(robot, seq) of a message the parser refused, when it plainly has one."""
    robot_id = own_topic_robot(topic)
    if robot_id is None or len(payload) > MAX_PAYLOAD_BYTES:
        return None
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    version, seq = body.get("v"), body.get("seq")
    if type(version) is not int or version != FORMAT_VERSION:
        return None
    if type(seq) is not int or not 1 <= seq <= SEQ_MAX:
        return None
    return robot_id, seq


class Confirmations:
    """The seqs of one batch to confirm, by robot."""

    def __init__(self) -> None:
        self._seqs: dict[str, set[int]] = defaultdict(set)

    def add_message(self, message: Message) -> None:
        # Per stored message: the parser has validated the id already, so comparing the
        # topic's last level is enough (no pattern match on the hot path).
        if message.seq is not None and message.topic.count("/") == 2 \
                and message.topic.rsplit("/", 1)[1] == message.robot_id:
            self._seqs[message.robot_id].add(message.seq)

    def add(self, key: tuple[str, int] | None) -> None:
        if key is not None:
            self._seqs[key[0]].add(key[1])

    def __len__(self) -> int:
        return sum(len(seqs) for seqs in self._seqs.values())

    def publish(self, session: MqttSession) -> int:
        """Send one receipt per robot; return how many seqs were confirmed.  A receipt
        that does not get out is harmless: the robot re-sends, and the repeat is
        confirmed then."""
        confirmed = 0
        for robot_id, seqs in self._seqs.items():
            for topic, payload in encode_receipts(robot_id, seqs):
                try:
                    session.publish(topic, payload, qos=RECEIPT_QOS)
                except Exception:
                    logger.exception("could not publish a receipt for %s", robot_id)
            confirmed += len(seqs)
        return confirmed
