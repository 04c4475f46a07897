"""The receipt codec: what the ingest confirms and what a robot accepts."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.wire.receipts import (
    MAX_RANGES,
    ReceiptError,
    decode_receipt,
    encode_receipts,
    receipt_topic,
    to_ranges,
)


def test_ranges_merge_neighbours_and_skip_gaps():
    assert to_ranges([5, 1, 2, 3, 9, 10, 3]) == [(1, 3), (5, 5), (9, 10)]
    assert to_ranges([]) == []


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(min_value=1, max_value=5000), max_size=3000))
def test_encoded_receipts_decode_to_exactly_the_seqs(seqs):
    decoded = set()
    for topic, payload in encode_receipts("tonypi_01", seqs):
        for first, last in decode_receipt("tonypi_01", topic, payload):
            decoded.update(range(first, last + 1))
    assert decoded == seqs


def test_many_gaps_split_into_several_receipts():
    seqs = range(1, 4 * MAX_RANGES, 2)  # every other seq: one range each
    messages = encode_receipts("r1", seqs)
    assert len(messages) == 2
    assert all(len(json.loads(p)["ranges"]) <= MAX_RANGES for _, p in messages)


def body(**changes):
    return json.dumps({"v": 1, "robot_id": "r1", "ts": "2026-12-06T00:00:00+00:00",
                       "ranges": [[1, 5]], **changes}).encode()


@pytest.mark.parametrize("robot_id, topic, payload", [
    ("r1", receipt_topic("r2"), body()),  # another robot's topic
    ("r1", receipt_topic("r1"), body(robot_id="r2")),  # names another robot
    ("r1", receipt_topic("r1"), body(v=True)),
    ("r1", receipt_topic("r1"), body(v=2)),
    ("r1", receipt_topic("r1"), body(ranges=[[5, 1]])),
    ("r1", receipt_topic("r1"), body(ranges=[[0, 1]])),
    ("r1", receipt_topic("r1"), body(ranges=[[1, 2**63]])),
    ("r1", receipt_topic("r1"), body(ranges=[[1.0, 2]])),
    ("r1", receipt_topic("r1"), body(ranges=[[1, 2, 3]])),
    ("r1", receipt_topic("r1"), body(ranges="1-5")),
    ("r1", receipt_topic("r1"), body(ranges=[[1, 1]] * (MAX_RANGES + 1))),
    ("r1", receipt_topic("r1"), b"not json"),
    ("r1", receipt_topic("r1"), b"[1, 2]"),
    ("r1", receipt_topic("r1"), b"x" * 100_000),
])
def test_a_robot_refuses_receipts_that_are_not_its_own_or_not_receipts(robot_id, topic,
                                                                      payload):
    with pytest.raises(ReceiptError):
        decode_receipt(robot_id, topic, payload)
