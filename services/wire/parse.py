"""The one entry point that turns an MQTT (topic, payload) into a Message.

Shared by the ingest service and the console.  Whatever a robot sends, the caller gets
either a Message or a ParseError with a stable reason; nothing else escapes.  Whatever
it accepts, every records and history backend can store (services.wire.values).

The `except Exception` safety net stays for bugs not yet found, but is counted
(`safety_net_hits()`): tests and the fuzzing benchmark require it never to be hit.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from services.wire.errors import ParseError, ParseErrorReason
from services.wire.legacy import parse_legacy, parse_response
from services.wire.model import Kind, Message
from services.wire.own import parse_own
from services.wire.topics import DATA_TOPICS_WITHOUT_ID, PREFIX, is_valid_robot_id
from services.wire.values import finish_notes, start_notes

logger = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 256 * 1024
_RESPONSE_KINDS = {"commands": False, "emergency_stop": True}
_SHARED_KINDS = frozenset(topic.split("/")[1] for topic in DATA_TOPICS_WITHOUT_ID)

_safety_net_lock = threading.Lock()
_safety_net_hits = 0


def safety_net_hits() -> int:
    """How many payloads reached the safety net since start (each one is a parser bug)."""
    return _safety_net_hits


def _count_safety_net() -> None:
    global _safety_net_hits
    with _safety_net_lock:
        _safety_net_hits += 1


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _load(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ParseError(ParseErrorReason.OVERSIZED,
                         f"{len(payload)} bytes (limit {MAX_PAYLOAD_BYTES})")
    try:
        body = json.loads(payload, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        # UnicodeDecodeError and JSONDecodeError are both ValueErrors.
        raise ParseError(ParseErrorReason.BAD_JSON, str(exc)[:200]) from None
    if not isinstance(body, dict):
        raise ParseError(ParseErrorReason.NOT_AN_OBJECT, f"top level is {type(body).__name__}")
    return body


def _robot_id(topic_id: str | None, body: dict[str, Any]) -> str:
    payload_id = body.get("robot_id")
    if payload_id is not None and not is_valid_robot_id(payload_id):
        raise ParseError(ParseErrorReason.BAD_ROBOT_ID, f"robot_id {str(payload_id)[:80]!r}")
    if topic_id is not None:
        if payload_id is not None and payload_id != topic_id:
            raise ParseError(ParseErrorReason.ROBOT_ID_MISMATCH,
                             f"topic says {topic_id!r}, payload says {payload_id!r}")
        return topic_id
    if payload_id is None:
        raise ParseError(ParseErrorReason.MISSING_FIELD, "robot_id is required on this topic")
    return payload_id


def _split(topic: str) -> tuple[str, str | None]:
    levels = topic.split("/")
    if levels[0] != PREFIX or len(levels) not in (2, 3) or not levels[1]:
        raise ParseError(ParseErrorReason.UNKNOWN_TOPIC, f"topic {topic[:120]!r}")
    if len(levels) == 2:
        # Only the legacy id-less topics: any other `tonypi/<kind>` would let a payload
        # name whichever robot it likes.
        if levels[1] not in _SHARED_KINDS:
            raise ParseError(ParseErrorReason.UNKNOWN_TOPIC, f"topic {topic[:120]!r}")
        return levels[1], None
    if levels[2] == "response" and levels[1] in _RESPONSE_KINDS:
        return levels[1], None
    if not is_valid_robot_id(levels[2]):
        raise ParseError(ParseErrorReason.BAD_ROBOT_ID, f"topic id {levels[2][:80]!r}")
    return levels[1], levels[2]


def parse_message(topic: str, payload: bytes, received_at: datetime | None = None) -> Message:
    """Parse one message; raise ParseError (with .topic set) for anything unusable."""
    received_at = received_at or datetime.now(UTC)
    token = start_notes()
    try:
        message = _parse(topic, payload, received_at)
    except ParseError as exc:
        exc.topic = topic
        raise
    except Exception as exc:  # a parser bug must not take the receive loop down
        _count_safety_net()
        logger.exception("unexpected parser failure on %r", topic[:120])
        raise ParseError(ParseErrorReason.INTERNAL_ERROR, f"unexpected: {exc!r}"[:200],
                         topic) from exc
    finally:
        notes = finish_notes(token)
    return dataclasses.replace(message, notes=notes) if notes else message


def _parse(topic: str, payload: bytes, received_at: datetime) -> Message:
    kind, topic_id = _split(topic)
    body = _load(payload)
    robot_id = _robot_id(topic_id, body)
    own_format = "v" in body
    if own_format and topic_id is None:
        raise ParseError(ParseErrorReason.OWN_FORMAT_ON_SHARED_TOPIC,
                         "the project's format needs the robot id in the topic")
    if topic.endswith("/response") and kind in _RESPONSE_KINDS:
        parts = parse_response(robot_id, body, emergency=_RESPONSE_KINDS[kind])
        return Message(kind=Kind.COMMAND_RESPONSE, robot_id=robot_id, time=received_at,
                       received_at=received_at, topic=topic, legacy=True, **parts)
    if own_format:
        return parse_own(kind, robot_id, body, topic, received_at)
    message_kind, parts = parse_legacy(kind, robot_id, body, received_at)
    return Message(kind=message_kind, robot_id=robot_id, time=received_at,
                   received_at=received_at, topic=topic, legacy=True, **parts)
