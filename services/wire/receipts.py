"""End-to-end receipts: the ingest tells a robot which of its seqs are safely stored.

A broker's PUBACK means "the broker has it", not "it is stored": Mosquitto keeps queued
messages in memory between autosaves, so a broker crash can lose what it acknowledged.
The agent therefore keeps every outbox row until a receipt covering its seq arrives on
`tonypi/receipts/<robot_id>` (only the ingest may write there, only that robot read it;
see packaging/mosquitto/acl).  A receipt lists seq ranges the ingest has durably handled:
stored, found already stored (a repeat), or dead-lettered.

    {"v": 1, "robot_id": "tonypi_01", "ts": "2026-12-06T04:00:00+00:00",
     "ranges": [[1, 480], [482, 500]]}

Standard library only: the agent imports this on a Pi.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

from services.wire.topics import FORMAT_VERSION, PREFIX, is_valid_robot_id

RECEIPT_KIND = "receipts"
MAX_RANGES = 1000  # one batch of the ingest never holds more than this many gaps
SEQ_MAX = 2**63 - 1
MAX_RECEIPT_BYTES = 64 * 1024


class ReceiptError(ValueError):
    """A receipt payload that is not a valid receipt for this robot."""


def receipt_topic(robot_id: str) -> str:
    return f"{PREFIX}/{RECEIPT_KIND}/{robot_id}"


def receipt_subscription() -> str:
    return f"{PREFIX}/{RECEIPT_KIND}/+"


def to_ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, merged, inclusive ranges covering exactly `seqs`."""
    ranges: list[list[int]] = []
    for seq in sorted(set(seqs)):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1][1] = seq
        else:
            ranges.append([seq, seq])
    return [(first, last) for first, last in ranges]


def encode_receipts(robot_id: str, seqs: Iterable[int],
                    now: datetime | None = None) -> list[tuple[str, bytes]]:
    """(topic, payload) pairs confirming `seqs`; more than one only past MAX_RANGES gaps."""
    ranges = to_ranges(seqs)
    moment = (now or datetime.now(UTC)).astimezone(UTC).isoformat()
    messages = []
    for start in range(0, len(ranges), MAX_RANGES):
        body = {"v": FORMAT_VERSION, "robot_id": robot_id, "ts": moment,
                "ranges": [list(r) for r in ranges[start:start + MAX_RANGES]]}
        messages.append((receipt_topic(robot_id),
                         json.dumps(body, separators=(",", ":")).encode()))
    return messages


def decode_receipt(robot_id: str, topic: str, payload: bytes) -> list[tuple[int, int]]:
    """The ranges a receipt confirms for `robot_id`; ReceiptError for anything else.

    A receipt on another robot's topic, or naming another robot, is refused: a robot
    acts only on receipts for itself.
    """
    if not is_valid_robot_id(robot_id) or topic != receipt_topic(robot_id):
        raise ReceiptError(f"receipt on {topic[:120]!r} is not for {robot_id!r}")
    if len(payload) > MAX_RECEIPT_BYTES:
        raise ReceiptError(f"receipt of {len(payload)} bytes")
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise ReceiptError(f"receipt is not JSON: {str(exc)[:100]}") from None
    if not isinstance(body, dict):
        raise ReceiptError("receipt is not an object")
    version = body.get("v")
    if type(version) is not int or version != FORMAT_VERSION:
        raise ReceiptError(f"receipt version {str(version)[:20]!r}")
    if body.get("robot_id") != robot_id:
        raise ReceiptError("receipt names another robot")
    ranges = body.get("ranges")
    if not isinstance(ranges, list) or len(ranges) > MAX_RANGES:
        raise ReceiptError(f"ranges must be a list of at most {MAX_RANGES}")
    result = []
    for item in ranges:
        if (not isinstance(item, list) or len(item) != 2
                or not all(type(v) is int and 1 <= v <= SEQ_MAX for v in item)
                or item[0] > item[1]):
            raise ReceiptError(f"bad range {str(item)[:60]}")
        result.append((item[0], item[1]))
    return result
