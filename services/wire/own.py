"""Parser for the project's own format, version 1 (see README, "Wire format")."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

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

PERFORMANCE_FIELDS = ("cpu_percent", "memory_percent", "disk_percent", "cpu_temperature",
                      "uptime_s")
BATTERY_FIELDS = ("percentage", "voltage", "current", "charging")
SERVO_FIELDS = ("position", "temperature", "voltage", "load", "torque_enabled")
IMU_FIELDS = ("accel_x", "accel_y", "accel_z", "gyro_x", "gyro_y", "gyro_z",
              "mag_x", "mag_y", "mag_z")
LOCATION_FIELDS = ("x", "y", "z", "heading")
MAX_SERVOS = 64
MAX_READINGS = 64
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
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
    if body.get("v") != FORMAT_VERSION:
        raise ParseError(ParseErrorReason.UNSUPPORTED_VERSION, f"format version {body.get('v')!r}")
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


def robot_status(body: Mapping[str, Any], hardware: Mapping[str, Any],
                 default: str | None = None) -> RobotStatus:
    """A status from either format; `hardware` holds hardware_mode and platform."""
    raw = e.text(body, "status", required=default is None) or default
    if raw not in STATUS_VALUES:
        raise e.bad(f"unknown status {raw[:40]!r}")
    return RobotStatus(
        status=STATUS_VALUES[raw], ip_address=e.text(body, "ip_address", max_chars=45),
        camera_url=e.text(body, "camera_url", max_chars=255),
        emergency_stopped=bool(e.boolean(body, "emergency_stopped"))
        or raw == "emergency_stopped",
        emergency_reason=e.text(body, "emergency_reason", max_chars=500),
        hardware_mode=e.text(hardware, "hardware_mode", max_chars=32),
        platform=e.text(hardware, "platform", max_chars=200),
    )


def _status(robot_id, time, seq, data):
    return Kind.STATUS, {"status": robot_status(data, data)}


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
        raise e.bad(f"unknown job status {raw!r}")
    items_total = e.integer(data, "items_total")
    items_done = e.integer(data, "items_done")
    job = JobUpdate(
        status=JOB_STATUSES[raw], started=raw == "started",
        job_key=e.text(data, "job_id", max_chars=100),
        task_name=e.text(data, "task_name", max_chars=100),
        start_time=e.utc_timestamp(data, "start_time"),
        end_time=e.utc_timestamp(data, "end_time"),
        items_total=items_total, items_done=items_done,
        percent_complete=e.number(data, "percent"),
        last_item=data.get("last_item"), reason=e.text(data, "reason", max_chars=500),
    )
    return Kind.JOB, {"job": job}


def _logs(robot_id, time, seq, data):
    return Kind.LOG, {"log": log_entry(data)}


def log_entry(data: Mapping[str, Any], category: str = "robot") -> LogEntry:
    level = (e.text(data, "level") or "INFO").upper()
    if level not in LOG_LEVELS:
        raise e.bad(f"unknown log level {level[:20]!r}")
    return LogEntry(level=level, message=e.text(data, "message", required=True) or "",
                    category=category, source=e.text(data, "source", max_chars=100))


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
