"""Builds payloads in the project's own format (version 1).

Every data message is `{"v": 1, "robot_id", "seq", "ts", "data": {...}}` on
`tonypi/<kind>/<robot_id>`; `ts` is UTC ISO 8601 with offset, `seq` a per-robot counter
that survives restarts, so loss and duplication can be measured end to end.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from services.wire.topics import FORMAT_VERSION, data_topic


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the project's format carries UTC only")
    return moment.astimezone(UTC).isoformat()


def _clean(value: Any) -> Any:
    """NaN and infinity are not JSON; a sensor that cannot read reports null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def encode(kind: str, robot_id: str, seq: int | None, data: dict[str, Any],
           ts: datetime | None = None) -> tuple[str, bytes]:
    """Return (topic, payload) for one message of `kind`."""
    body = {
        "v": FORMAT_VERSION,
        "robot_id": robot_id,
        "seq": seq,
        "ts": iso_utc(ts or utc_now()),
        "data": _clean(data),
    }
    return data_topic(kind, robot_id), json.dumps(body, separators=(",", ":")).encode()


def encode_command_response(robot_id: str, command_id: str | None, success: bool,
                            message: str, **extra: Any) -> bytes:
    """Legacy response shape, so existing consoles understand our agent too."""
    body = {
        "robot_id": robot_id,
        "command_id": command_id,
        "timestamp": iso_utc(utc_now()),
        "success": success,
        "message": message,
        **extra,
    }
    return json.dumps(_clean(body), separators=(",", ":")).encode()
