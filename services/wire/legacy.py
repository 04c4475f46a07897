"""Parser for the wire format of existing TonyPi robot clients (legacy-wire-format.md).

Legacy timestamps are robot-local with no offset, so everything is filed under the
receive time; legacy payloads carry no sequence number.

Field types drift between client versions, so this reader is tolerant: an OPTIONAL field
of an unexpected type or out of range is dropped with a "dropped:<field>:<why>" note
(Message.notes), never the message.  Required fields (robot_id, a sensor's type and
value, the servos object, a job's status, a log's message) still refuse it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from services.wire import errors as e
from services.wire.errors import ParseError, ParseErrorReason
from services.wire.model import (
    CommandResponse,
    JobUpdate,
    Kind,
    LogEntry,
    Measurement,
    Sample,
)
from services.wire.own import (
    BATTERY_FIELDS,
    HARDWARE_MODE_MAX_CHARS,
    JOB_KEY_MAX_CHARS,
    JOB_STATUSES,
    LOCATION_FIELDS,
    MAX_SERVOS,
    PLATFORM_MAX_CHARS,
    REASON_MAX_CHARS,
    TASK_NAME_MAX_CHARS,
    log_entry,
    robot_status,
)
from services.wire.values import INT32_MAX, UnstorableJson, clean_json, note, utc_in_window

# One-message-per-sensor types that belong to another measurement than `sensors`.
SENSOR_ROUTES: dict[str, tuple[Measurement, str]] = {
    "accelerometer_x": (Measurement.IMU, "accel_x"),
    "accelerometer_y": (Measurement.IMU, "accel_y"),
    "accelerometer_z": (Measurement.IMU, "accel_z"),
    "gyroscope_x": (Measurement.IMU, "gyro_x"),
    "gyroscope_y": (Measurement.IMU, "gyro_y"),
    "gyroscope_z": (Measurement.IMU, "gyro_z"),
    "cpu_temperature": (Measurement.PERFORMANCE, "cpu_temperature"),
    "system_cpu_percent": (Measurement.PERFORMANCE, "cpu_percent"),
    "system_memory_percent": (Measurement.PERFORMANCE, "memory_percent"),
    "system_disk_usage": (Measurement.PERFORMANCE, "disk_percent"),
    "system_temperature": (Measurement.PERFORMANCE, "cpu_temperature"),
    "system_uptime": (Measurement.PERFORMANCE, "uptime_s"),
}
# `tonypi/pi_status` and the status message's system_info use their own names.
PI_STATUS_FIELDS = {
    "system_cpu_percent": "cpu_percent",
    "system_memory_percent": "memory_percent",
    "system_disk_usage": "disk_percent",
    "system_temperature": "cpu_temperature",
    "system_uptime": "uptime_s",
}
SYSTEM_INFO_FIELDS = {
    "cpu_percent": "cpu_percent",
    "memory_percent": "memory_percent",
    "disk_usage": "disk_percent",
    "cpu_temperature": "cpu_temperature",
    "temperature": "cpu_temperature",
    "uptime": "uptime_s",
}
LEGACY_SERVO_FIELDS = ("position", "temperature", "voltage", "load", "torque_enabled")
JOB_EVENT_ONLY_STATUSES = frozenset({"started", "in_progress", "cancelled", "failed"})
# The agent's RobotStatus.hardware_mode vocabulary (robot_agent/collectors): legacy
# clients send booleans instead, true when the HiWonder SDK is present.
HARDWARE_SDK = "sdk"
HARDWARE_SIMULATION = "simulation"
COMMAND_ID_MAX_CHARS = 100
RESPONSE_MESSAGE_MAX_CHARS = 1000
SCAN_TEXT_MAX_CHARS = {"qr_data": 500, "station_name": 100, "action": 100}
VISION_NUMBERS = {"confidence": "vision_confidence", "center_x": "vision_center_x"}


def parse_legacy(kind: str, robot_id: str, body: Mapping[str, Any],
                 time: datetime) -> tuple[Kind, dict]:
    """Return the message kind and the Message parts for one legacy payload."""
    handler = _HANDLERS.get(kind)
    if handler is None:
        raise ParseError(ParseErrorReason.UNKNOWN_TOPIC, f"no legacy kind {kind!r}")
    return handler(robot_id, body, time)


def _renamed(obj: Mapping[str, Any], names: Mapping[str, str],
             prefix: str = "") -> dict[str, float]:
    fields: dict[str, float] = {}
    for source, target in names.items():
        value = e.lenient(e.number, obj, source, label=prefix + source)
        if value is not None:
            fields.setdefault(target, value)
    return fields


def _one(measurement: Measurement, robot_id: str, time: datetime, fields: dict,
         tags: dict | None = None) -> tuple[Sample, ...]:
    return (Sample(measurement, robot_id, time, fields, tags or {}),) if fields else ()


def _status(robot_id, body, time):
    # {"error": "..."} is what a client sends when it could not read its system info:
    # a valid status without a performance point.
    info = e.lenient(e.mapping, body, "system_info") or {}
    status = robot_status(
        body, hardware_mode=_hardware_mode(info), default="online", tolerant=True,
        platform=e.lenient(e.text, info, "platform", label="system_info.platform",
                           max_chars=PLATFORM_MAX_CHARS))
    fields = _renamed(info, SYSTEM_INFO_FIELDS, "system_info.")
    return Kind.STATUS, {"status": status,
                         "samples": _one(Measurement.PERFORMANCE, robot_id, time, fields)}


def _hardware_mode(info: Mapping[str, Any]) -> str | None:
    """hardware_mode (or else hardware_sdk) as the agent's vocabulary; older clients
    sent hardware_mode as a string, which is kept."""
    for key in ("hardware_mode", "hardware_sdk"):
        value = info.get(key)
        if isinstance(value, bool):
            return HARDWARE_SDK if value else HARDWARE_SIMULATION
        if key == "hardware_mode" and isinstance(value, str):
            mode = e.lenient(e.text, info, key, label="system_info.hardware_mode",
                             max_chars=HARDWARE_MODE_MAX_CHARS, cut=False)
            if mode:
                return mode
        elif value is not None:
            note(f"dropped:system_info.{key}:type")
    return None


def _pi_status(robot_id, body, time):
    fields = _renamed(body, PI_STATUS_FIELDS)
    return Kind.PERFORMANCE, {"samples": _one(Measurement.PERFORMANCE, robot_id, time, fields)}


def _sensor(robot_id, body, time):
    sensor_type = e.tag(body, "sensor_type")
    value = e.number(body, "value", required=True)
    route = SENSOR_ROUTES.get(sensor_type)
    if route is not None:
        measurement, field = route
        kind = Kind.IMU if measurement is Measurement.IMU else Kind.PERFORMANCE
        return kind, {"samples": _one(measurement, robot_id, time, {field: value})}
    tags = {"sensor_type": sensor_type}
    if (unit := e.lenient(e.unit, body, "unit")) is not None:
        tags["unit"] = unit
    return Kind.SENSORS, {"samples": _one(Measurement.SENSORS, robot_id, time,
                                          {"value": value}, tags)}


def _servos(robot_id, body, time):
    servos = e.mapping(body, "servos", required=True)
    if len(servos) > MAX_SERVOS:
        raise e.bad(f"more than {MAX_SERVOS} servos")
    samples = []
    for key, servo in servos.items():
        if not isinstance(servo, dict):
            raise e.bad("each servo must be an object")
        servo_id = e.tag({"servo": key}, "servo")
        fields = e.pick_numbers(servo, LEGACY_SERVO_FIELDS, tolerant=True)
        samples += _one(Measurement.SERVOS, robot_id, time, fields, {"servo_id": servo_id})
    return Kind.SERVOS, {"samples": tuple(samples)}


def _battery(robot_id, body, time):
    fields = e.pick_numbers(body, BATTERY_FIELDS, tolerant=True)
    return Kind.BATTERY, {"samples": _one(Measurement.BATTERY, robot_id, time, fields)}


def _location(robot_id, body, time):
    fields = e.pick_numbers(body, LOCATION_FIELDS, tolerant=True)
    return Kind.LOCATION, {"samples": _one(Measurement.LOCATION, robot_id, time, fields)}


def _job(robot_id, body, time):
    raw = e.text(body, "status", required=True)
    if raw not in JOB_STATUSES:
        raise e.bad(f"unknown job status {raw[:40]!r}", "value")
    get = e.lenient
    start = _start_from_elapsed(body, time)
    items_total = get(e.integer, body, "items_total", low=0, high=INT32_MAX)
    items_done = get(e.integer, body, "items_done", low=0, high=INT32_MAX)
    if "task_name" in body or raw in JOB_EVENT_ONLY_STATUSES:
        job = JobUpdate(
            status=JOB_STATUSES[raw], started=raw == "started",
            task_name=get(e.text, body, "task_name", max_chars=TASK_NAME_MAX_CHARS),
            start_time=start, items_total=items_total, items_done=items_done,
            percent_complete=get(e.number, body, "progress_percent"),
            reason=get(e.text, body, "reason", max_chars=REASON_MAX_CHARS),
        )
    else:
        # The progress shape names a job only by its robot-local start_time string.
        job = JobUpdate(
            status=JOB_STATUSES[raw],
            job_key=get(e.text, body, "start_time", max_chars=JOB_KEY_MAX_CHARS, cut=False),
            start_time=start, items_total=items_total, items_done=items_done,
            percent_complete=get(e.number, body, "percent"),
            last_item=get(e.raw_json, body, "last_item"),
        )
    return Kind.JOB, {"job": job}


def _start_from_elapsed(body: Mapping[str, Any], time: datetime) -> datetime | None:
    """Receive time minus elapsed_time: the robot's own start_time has no offset."""
    elapsed = e.lenient(e.number, body, "elapsed_time")
    if elapsed is None:
        return None
    try:
        start = time - timedelta(seconds=elapsed) if elapsed >= 0 else None
    except OverflowError:  # 1e11 s and up: no datetime is that far back
        start = None
    start = utc_in_window(start) if start is not None else None
    if start is None:
        note("dropped:elapsed_time:range")
    return start


def _logs(robot_id, body, time):
    return Kind.LOG, {"log": log_entry(body, tolerant=True)}


def _scan(robot_id, body, time):
    found = {key: e.lenient(e.text, body, key, max_chars=limit)
             for key, limit in SCAN_TEXT_MAX_CHARS.items()}
    qr_data, station, action = found["qr_data"], found["station_name"], found["action"]
    message = f"scanned {qr_data!r} at station {station or '?'}" + (f": {action}" if action else "")
    log = LogEntry(level="INFO", message=message, category="scan", source="scanner",
                   details=found)
    return Kind.SCAN, {"log": log}


def _vision(robot_id, body, time):
    samples: list[Sample] = []
    for source, sensor_type in VISION_NUMBERS.items():
        value = e.lenient(e.number, body, source)
        if value is not None:
            samples += _one(Measurement.SENSORS, robot_id, time, {"value": value},
                            {"sensor_type": sensor_type})
    return Kind.VISION, {"samples": tuple(samples)}


def parse_response(robot_id: str, body: Mapping[str, Any], emergency: bool) -> dict:
    extra = {k: v for k, v in body.items()
             if k not in {"robot_id", "command_id", "success", "message", "timestamp"}}
    try:
        details = clean_json(extra)
    except UnstorableJson as exc:
        note(f"dropped:details:{exc.why}")
        details = None
    response = CommandResponse(
        command_id=_command_id(body), success=bool(e.lenient(e.boolean, body, "success")),
        message=e.lenient(e.text, body, "message", max_chars=RESPONSE_MESSAGE_MAX_CHARS) or "",
        emergency=emergency, details=details,
    )
    return {"command_response": response}


def _command_id(body: Mapping[str, Any]) -> str | None:
    """The echoed command id as text; clients send it as a string or a number."""
    value = body.get("command_id")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**30:
        return str(value)
    return e.lenient(e.text, body, "command_id", max_chars=COMMAND_ID_MAX_CHARS, cut=False)


_HANDLERS: dict[str, Callable] = {
    "status": _status,
    "pi_status": _pi_status,
    "sensors": _sensor,
    "servos": _servos,
    "battery": _battery,
    "location": _location,
    "job": _job,
    "logs": _logs,
    "scan": _scan,
    "vision": _vision,
}
