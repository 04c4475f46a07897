"""Parser for the project's own format, version 1 (see README, "Wire format")."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from services.vocabulary import LOG_LEVELS
from services.wire import errors as e
from services.wire.errors import ParseError, ParseErrorReason
from services.wire.model import (
    JobUpdate,
    Kind,
    LogEntry,
    Measurement,
    Message,
    RobotStatus,
    Sample,
)
from services.wire.topics import FORMAT_VERSION
from services.wire.values import INT32_MAX

PERFORMANCE_FIELDS = ("cpu_percent", "memory_percent", "disk_percent", "cpu_temperature",
                      "uptime_s")
BATTERY_FIELDS = ("percentage", "voltage", "current", "charging")
SERVO_FIELDS = ("position", "temperature", "voltage", "load", "torque_enabled")
IMU_FIELDS = ("accel_x", "accel_y", "accel_z", "gyro_x", "gyro_y", "gyro_z",
              "mag_x", "mag_y", "mag_z")
LOCATION_FIELDS = ("x", "y", "z", "heading")
# Column widths of what these fields become (services/records/models.py): a robot's
# ip_address VARCHAR(45), camera_url VARCHAR(255), a job's job_key and task_name
# VARCHAR(100).  The others are Text or JSON; their limits only keep rows sane.
IP_ADDRESS_MAX_CHARS = 45
CAMERA_URL_MAX_CHARS = 255
JOB_KEY_MAX_CHARS = 100
TASK_NAME_MAX_CHARS = 100
REASON_MAX_CHARS = 500
PLATFORM_MAX_CHARS = 200
HARDWARE_MODE_MAX_CHARS = 32
SOURCE_MAX_CHARS = 100
LEVEL_MAX_CHARS = 20
MAX_SERVOS = 64
MAX_READINGS = 64
JOB_STATUSES = {
    "started": "active", "in_progress": "active", "working": "active",
    "completed": "completed", "failed": "failed", "cancelled": "cancelled",
}
STATUS_VALUES = {
    "online": "online", "offline": "offline", "emergency_stopped": "error",
    "error": "error", "maintenance": "maintenance",
}


def parse_own(kind: str, robot_id: str, body: Mapping[str, Any], topic: str,
              received_at: datetime) -> Message:
    version = body.get("v")
    # Exactly the integer: True == 1 and 1.0 == 1 in Python, "1" is a different format.
    if type(version) is not int or version != FORMAT_VERSION:
        raise ParseError(ParseErrorReason.UNSUPPORTED_VERSION,
                         f"format version {str(version)[:20]!r}")
    seq = e.integer(body, "seq")
    time = e.utc_timestamp(body, "ts", required=True)
    data = e.mapping(body, "data", required=True)
    handler = _HANDLERS.get(kind)
    if handler is None:
        raise ParseError(ParseErrorReason.UNKNOWN_TOPIC, f"no kind {kind!r} in format v1")
    message_kind, parts = handler(robot_id, time, seq, data)
    return Message(kind=message_kind, robot_id=robot_id, time=time, received_at=received_at,
                   topic=topic, legacy=False, seq=seq, **parts)


def _sample(measurement: Measurement, robot_id: str, time: datetime, seq: int | None,
            fields: dict, tags: dict | None = None) -> tuple[Sample, ...]:
    if not fields:
        return ()
    return (Sample(measurement, robot_id, time, fields, tags or {}, seq),)


def robot_status(body: Mapping[str, Any], *, hardware_mode: str | None,
                 platform: str | None, default: str | None = None,
                 tolerant: bool = False) -> RobotStatus:
    """A status from either format; `default` makes the status field optional."""
    get = e.reader(tolerant)
    raw = get(e.text, body, "status", required=default is None) or default
    if raw not in STATUS_VALUES:
        raise e.bad(f"unknown status {str(raw)[:40]!r}", "value")
    return RobotStatus(
        status=STATUS_VALUES[raw],
        ip_address=get(e.text, body, "ip_address", max_chars=IP_ADDRESS_MAX_CHARS, cut=False),
        camera_url=get(e.text, body, "camera_url", max_chars=CAMERA_URL_MAX_CHARS, cut=False),
        emergency_stopped=bool(get(e.boolean, body, "emergency_stopped"))
        or raw == "emergency_stopped",
        emergency_reason=get(e.text, body, "emergency_reason", max_chars=REASON_MAX_CHARS),
        hardware_mode=hardware_mode, platform=platform,
        clean=bool(get(e.boolean, body, "clean")),
    )


def _status(robot_id, time, seq, data):
    status = robot_status(
        data, platform=e.text(data, "platform", max_chars=PLATFORM_MAX_CHARS),
        hardware_mode=e.text(data, "hardware_mode", max_chars=HARDWARE_MODE_MAX_CHARS,
                             cut=False))
    return Kind.STATUS, {"status": status}


def _flat(kind: Kind, measurement: Measurement, names: tuple[str, ...]) -> Callable:
    def handle(robot_id, time, seq, data):
        fields = e.pick_numbers(data, names)
        return kind, {"samples": _sample(measurement, robot_id, time, seq, fields)}
    return handle


def _servos(robot_id, time, seq, data):
    servos = data.get("servos")
    if not isinstance(servos, list) or len(servos) > MAX_SERVOS:
        raise e.bad(f"servos must be a list of at most {MAX_SERVOS}")
    samples = []
    for servo in servos:
        if not isinstance(servo, dict):
            raise e.bad("each servo must be an object")
        servo_id = e.integer(servo, "id", required=True)
        fields = e.pick_numbers(servo, SERVO_FIELDS)
        samples += _sample(Measurement.SERVOS, robot_id, time, seq, fields,
                           {"servo_id": f"servo_{servo_id}"})
    return Kind.SERVOS, {"samples": tuple(samples)}


def _sensors(robot_id, time, seq, data):
    readings = data.get("readings")
    if not isinstance(readings, list) or len(readings) > MAX_READINGS:
        raise e.bad(f"readings must be a list of at most {MAX_READINGS}")
    samples = []
    for reading in readings:
        if not isinstance(reading, dict):
            raise e.bad("each reading must be an object")
        tags = {"sensor_type": e.tag(reading, "sensor_type")}
        if (unit := e.unit(reading)) is not None:
            tags["unit"] = unit
        value = e.number(reading, "value", required=True)
        samples += _sample(Measurement.SENSORS, robot_id, time, seq, {"value": value}, tags)
    return Kind.SENSORS, {"samples": tuple(samples)}


def _job(robot_id, time, seq, data):
    raw = e.text(data, "status", required=True)
    if raw not in JOB_STATUSES:
        raise e.bad(f"unknown job status {raw[:40]!r}", "value")
    job = JobUpdate(
        status=JOB_STATUSES[raw], started=raw == "started",
        job_key=e.text(data, "job_id", max_chars=JOB_KEY_MAX_CHARS, cut=False),
        task_name=e.text(data, "task_name", max_chars=TASK_NAME_MAX_CHARS),
        start_time=e.utc_timestamp(data, "start_time"),
        end_time=e.utc_timestamp(data, "end_time"),
        items_total=e.integer(data, "items_total", low=0, high=INT32_MAX),
        items_done=e.integer(data, "items_done", low=0, high=INT32_MAX),
        percent_complete=e.number(data, "percent"),
        last_item=e.raw_json(data, "last_item"),
        reason=e.text(data, "reason", max_chars=REASON_MAX_CHARS),
    )
    return Kind.JOB, {"job": job}


def _logs(robot_id, time, seq, data):
    return Kind.LOG, {"log": log_entry(data)}


def log_entry(data: Mapping[str, Any], category: str = "robot", *,
              tolerant: bool = False) -> LogEntry:
    get = e.reader(tolerant)
    level = (get(e.text, data, "level", max_chars=LEVEL_MAX_CHARS, cut=False)
             or "INFO").upper()
    if level not in LOG_LEVELS:
        raise e.bad(f"unknown log level {level[:20]!r}", "value")
    return LogEntry(level=level, message=e.text(data, "message", required=True) or "",
                    category=category,
                    source=get(e.text, data, "source", max_chars=SOURCE_MAX_CHARS))


_HANDLERS: dict[str, Callable] = {
    "status": _status,
    "performance": _flat(Kind.PERFORMANCE, Measurement.PERFORMANCE, PERFORMANCE_FIELDS),
    "battery": _flat(Kind.BATTERY, Measurement.BATTERY, BATTERY_FIELDS),
    "imu": _flat(Kind.IMU, Measurement.IMU, IMU_FIELDS),
    "location": _flat(Kind.LOCATION, Measurement.LOCATION, LOCATION_FIELDS),
    "servos": _servos,
    "sensors": _sensors,
    "job": _job,
    "logs": _logs,
}
