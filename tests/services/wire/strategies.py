"""Hypothesis strategies for (topic, payload) pairs: plausible and hostile, both formats.

Shared by the property tests and benchmarks/bench_parser_fuzz.py.  Plausible payloads
are real-shaped skeletons (legacy_samples, the project's own kinds) whose fields are
each kept, replaced by a hostile value or left out; arbitrary JSON covers the rest.
Values JSON cannot say through json.dumps (1e400, a 400-digit integer) are written as
marker strings and substituted into the encoded bytes.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from hypothesis import strategies as st

from services.wire.topics import DATA_KINDS_WITH_ID, DATA_TOPICS_WITHOUT_ID, RESPONSE_TOPICS
from tests.services.wire.legacy_samples import JOB_EVENT_STARTED, JOB_PROGRESS, LEGACY_MESSAGES

TS = "2026-11-22T12:00:00+00:00"
_RAW = {
    '"@@INF@@"': b"1e400",
    '"@@NEGINF@@"': b"-1e400",
    '"@@BIGINT@@"': b"1" + b"0" * 400,
    '"@@BIGFLOATINT@@"': b"1" + b"0" * 400 + b".0",
}

OWN_DATA: dict[str, dict[str, Any]] = {
    "status": {"status": "online", "ip_address": "10.0.0.2",
               "camera_url": "http://10.0.0.2:8081/?action=stream", "emergency_stopped": False,
               "emergency_reason": None, "hardware_mode": "sdk", "platform": "Linux"},
    "performance": {"cpu_percent": 5.0, "memory_percent": 40.0, "disk_percent": 50.0,
                    "cpu_temperature": 55.0, "uptime_s": 100.0},
    "battery": {"percentage": 50.0, "voltage": 11.1, "current": 0.5, "charging": True},
    "imu": {"accel_x": 0.1, "accel_z": 9.8, "gyro_x": 0.01, "mag_y": 3.0},
    "location": {"x": 1.0, "y": 2.0, "z": 0.0, "heading": 90.0},
    "servos": {"servos": [{"id": 1, "position": 5.0, "temperature": 50.0, "voltage": 7.4,
                           "load": 3.0, "torque_enabled": True}]},
    "sensors": {"readings": [{"sensor_type": "ultrasonic_distance", "value": 30.0,
                              "unit": "cm"}]},
    "job": {"job_id": "j1", "task_name": "sort", "status": "started", "items_total": 4,
            "items_done": 1, "percent": 25.0, "start_time": TS, "end_time": None,
            "last_item": {"id": "ITEM-1", "tags": ["a"]}, "reason": None},
    "logs": {"level": "INFO", "message": "hello", "source": "agent"},
}
HOSTILE_TIMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                 "1600-01-01T00:00:00+00:00", "2300-01-01T00:00:00+00:00",
                 "1969-12-31T23:59:59+00:00", "2026-11-22T12:00:00", "yesterday", ""]


def _nest(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


@functools.cache
def hostile_leaves() -> st.SearchStrategy[Any]:
    nasty_text = st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfffy", "\n", "é\r\n",
                                  "a" * 300, "x" * 20_000, "", " ", "\\", "servo_1"])
    return st.one_of(
        st.none(), st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from([2**31, 3_000_000_000, 2**63, -(2**63) - 1, -1, 0, 1]),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([1.0, 1.5, 1e300, -0.0]),
        st.sampled_from(list(_RAW)).map(lambda marker: marker.strip('"')),
        nasty_text, st.text(max_size=20),
        st.sampled_from(HOSTILE_TIMES),
        st.integers(min_value=30, max_value=45).map(_nest),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    )


def same_type(template: Any) -> st.SearchStrategy[Any]:
    """A hostile value of the template's own type: these pass the type checks and reach
    the stores, where PostgreSQL is stricter than SQLite."""
    if isinstance(template, bool) or template is None:
        return st.just(template)
    if isinstance(template, int):
        return st.sampled_from([2**31 - 1, 2**31, 3_000_000_000, 2**63 - 1, 2**63, -1])
    if isinstance(template, float):
        return st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                         st.sampled_from(["@@INF@@", "@@BIGINT@@"]))
    return st.one_of(
        st.sampled_from(["\x00", "\ud800", "\udc00x", "\x00\ud83d", "\n", "\\", ",= "]).map(
            lambda nasty: template + nasty),
        st.integers(min_value=1, max_value=400).map(lambda n: template * n),
    )


def plausible(template: Any, keep: int = 4, *, top: bool = False) -> st.SearchStrategy[Any]:
    """The template with each value usually kept (`keep` times in keep + 1), sometimes
    hostile, keys sometimes gone; the `top` level itself stays an object."""
    hostile = hostile_leaves()
    if isinstance(template, dict):
        keys = sorted(template)
        inner = st.fixed_dictionaries({key: plausible(value, keep)
                                       for key, value in template.items()})
        dropped = st.sets(st.sampled_from(keys), max_size=2) if keys else st.just(set())
        shaped = st.tuples(inner, dropped).map(
            lambda pair: {k: v for k, v in pair[0].items() if k not in pair[1]})
    elif isinstance(template, list):
        shaped = (st.lists(plausible(template[0], keep), max_size=3) if template
                  else st.just([]))
    else:
        # one_of picks a branch about uniformly: `keep` kept, one hostile of the same
        # type, one hostile of any type.
        return st.one_of(*[st.just(template)] * keep, same_type(template), hostile)
    if top:
        return shaped
    return st.one_of(*[shaped] * keep, hostile)


def arbitrary_json() -> st.SearchStrategy[Any]:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False,
                       allow_infinity=False), st.text(max_size=30))
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                        max_leaves=20)


def encode_body(body: Any) -> bytes:
    text = json.dumps(body)
    payload = text.encode("utf-8", "surrogatepass")
    for marker, raw in _RAW.items():
        payload = payload.replace(marker.encode(), raw)
    return payload


TOPIC_PATTERNS = ([f"tonypi/{kind}/{{robot_id}}" for kind in DATA_KINDS_WITH_ID]
                  + list(DATA_TOPICS_WITHOUT_ID + RESPONSE_TOPICS))
ROBOT_IDS = st.one_of(
    st.sampled_from(["r1", "tonypi_raspberrypi", "tonypi_DESKTOP-AB12"]),
    st.integers(min_value=0, max_value=10**9).map(lambda n: f"rb{n}"),
)


@st.composite
def topic_and_body(draw: st.DrawFn, robot_ids: st.SearchStrategy[str] = ROBOT_IDS,
                   keep: int = 4, intact: bool = False) -> tuple[str, Any]:
    """(topic, body) over every topic kind and both formats; `intact` keeps robot_id and
    v valid, so that more payloads reach the field readers (and the stores)."""
    robot_id = draw(robot_ids)
    pattern = draw(st.sampled_from(TOPIC_PATTERNS))
    topic = pattern.format(robot_id=robot_id)
    shapes = ["own", "own", "legacy", "legacy", "arbitrary"]
    if intact:
        shapes = ["legacy"] if "{" not in pattern or "response" in pattern else shapes[:4]
    shape = draw(st.sampled_from(shapes))
    if shape == "arbitrary":
        body = draw(arbitrary_json())
        if isinstance(body, dict) and draw(st.booleans()):
            body = {**body, "robot_id": robot_id, **({"v": 1} if draw(st.booleans()) else {})}
        return topic, body
    variant = draw(st.sampled_from([0, 1])) if "/job/" in pattern else 0
    body = draw(_plausible_top(shape, pattern, variant, keep))
    if intact:
        template = _template(shape, pattern, variant)
        body.update({key: template[key] for key in ("robot_id", "v") if key in template})
    elif "robot_id" in body and draw(st.sampled_from([True, True, True, False])):
        body["robot_id"] = _RID  # keep the identity often, so the content is reached
    if body.get("robot_id") == _RID:
        body["robot_id"] = robot_id
    return topic, body


_RID = "@@RID@@"  # stands for the drawn robot id, so templates (and strategies) are shared


def _template(shape: str, pattern: str, variant: int) -> dict[str, Any]:
    kind = pattern.split("/")[1]
    if shape == "own":
        data = OWN_DATA.get(kind, OWN_DATA["performance"])
        return {"v": 1, "robot_id": _RID, "seq": 7, "ts": TS, "data": data}
    if kind == "job":
        return dict((JOB_PROGRESS, JOB_EVENT_STARTED)[variant], robot_id=_RID)
    for sample_topic, body in LEGACY_MESSAGES.items():
        if sample_topic.split("/")[1] == kind:
            return dict(body, robot_id=_RID)
    return dict(LEGACY_MESSAGES["tonypi/battery"], robot_id=_RID)


@functools.cache
def _plausible_top(shape: str, pattern: str, variant: int, keep: int
                   ) -> st.SearchStrategy[dict[str, Any]]:
    # Built once per (shape, topic pattern, variant, keep): building the strategies for
    # every draw would cost more than drawing from them.
    return plausible(_template(shape, pattern, variant), keep, top=True)


def messages(robot_ids: st.SearchStrategy[str] = ROBOT_IDS, *, keep: int = 4,
             noise: bool = True, intact: bool = False
             ) -> st.SearchStrategy[tuple[str, bytes]]:
    """Encoded (topic, payload) pairs; with `noise`, some payloads are raw bytes."""
    shaped = topic_and_body(robot_ids, keep, intact).map(
        lambda pair: (pair[0], encode_body(pair[1])))
    if not noise:
        return shaped
    topics = st.sampled_from([f"tonypi/{kind}/r1" for kind in DATA_KINDS_WITH_ID]
                             + list(DATA_TOPICS_WITHOUT_ID + RESPONSE_TOPICS))
    return st.one_of(*[shaped] * 7, st.tuples(topics, st.binary(max_size=64)))
