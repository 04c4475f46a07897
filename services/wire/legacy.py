"""Parser for the wire format of existing TonyPi robot clients (legacy-wire-format.md).

Legacy timestamps are robot-local with no offset, so everything is filed under the
receive time; legacy payloads carry no sequence number.
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
    JOB_STATUSES,
    LOCATION_FIELDS,
    MAX_SERVOS,
    log_entry,
    robot_status,
)

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
VISION_NUMBERS = {"confidence": "vision_confidence", "center_x": "vision_center_x"}


def parse_legacy(kind: str, robot_id: str, body: Mapping[str, Any],
                 time: datetime) -> tuple[Kind, dict]:
    """Return the message kind and the Message parts for one legacy payload."""
    handler = _HANDLERS.get(kind)
    if handler is None:
        raise ParseError(ParseErrorReason.UNKNOWN_TOPIC, f"no legacy kind {kind!r}")
    return handler(robot_id, body, time)


def _renamed(obj: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, float]:
    fields: dict[str, float] = {}
    for source, target in names.items():
        value = e.number(obj, source)
        if value is not None:
            fields.setdefault(target, value)
    return fields


def _one(measurement: Measurement, robot_id: str, time: datetime, fields: dict,
         tags: dict | None = None) -> tuple[Sample, ...]:
    return (Sample(measurement, robot_id, time, fields, tags or {}),) if fields else ()


def _status(robot_id, body, time):
    info = e.mapping(body, "system_info")
    status = robot_status(body, info, default="online")
    samples = _one(Measurement.PERFORMANCE, robot_id, time, _renamed(info, SYSTEM_INFO_FIELDS))
    return Kind.STATUS, {"status": status, "samples": samples}


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
    if (unit := e.unit(body)) is not None:
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
        fields = e.pick_numbers(servo, LEGACY_SERVO_FIELDS)
        samples += _one(Measurement.SERVOS, robot_id, time, fields, {"servo_id": servo_id})
    return Kind.SERVOS, {"samples": tuple(samples)}


def _battery(robot_id, body, time):
    fields = e.pick_numbers(body, BATTERY_FIELDS)
    return Kind.BATTERY, {"samples": _one(Measurement.BATTERY, robot_id, time, fields)}


def _location(robot_id, body, time):
    fields = e.pick_numbers(body, LOCATION_FIELDS)
    return Kind.LOCATION, {"samples": _one(Measurement.LOCATION, robot_id, time, fields)}


def _job(robot_id, body, time):
    raw = e.text(body, "status", required=True)
    if raw not in JOB_STATUSES:
        raise e.bad(f"unknown job status {raw[:40]!r}")
    elapsed = e.number(body, "elapsed_time")
    start = time - timedelta(seconds=elapsed) if elapsed is not None and elapsed >= 0 else None
    is_event = "task_name" in body or raw in JOB_EVENT_ONLY_STATUSES
    if is_event:
        job = JobUpdate(
            status=JOB_STATUSES[raw], started=raw == "started",
            task_name=e.text(body, "task_name", max_chars=100), start_time=start,
            items_total=e.integer(body, "items_total"), items_done=e.integer(body, "items_done"),
            percent_complete=e.number(body, "progress_percent"),
            reason=e.text(body, "reason", max_chars=500),
        )
    else:
        # The progress shape names a job only by its robot-local start_time string.
        job = JobUpdate(
            status=JOB_STATUSES[raw], job_key=e.text(body, "start_time", max_chars=100),
            start_time=start, items_total=e.integer(body, "items_total"),
            items_done=e.integer(body, "items_done"), percent_complete=e.number(body, "percent"),
            last_item=body.get("last_item"),
        )
    return Kind.JOB, {"job": job}


def _logs(robot_id, body, time):
    return Kind.LOG, {"log": log_entry(body)}


def _scan(robot_id, body, time):
    qr_data = e.text(body, "qr_data", max_chars=500)
    station = e.text(body, "station_name", max_chars=100)
    action = e.text(body, "action", max_chars=100)
    message = f"scanned {qr_data!r} at station {station or '?'}" + (f": {action}" if action else "")
    log = LogEntry(level="INFO", message=message, category="scan", source="scanner",
                   details={"qr_data": qr_data, "station_name": station, "action": action})
    return Kind.SCAN, {"log": log}


def _vision(robot_id, body, time):
    samples: list[Sample] = []
    for source, sensor_type in VISION_NUMBERS.items():
        value = e.number(body, source)
        if value is not None:
            samples += _one(Measurement.SENSORS, robot_id, time, {"value": value},
                            {"sensor_type": sensor_type})
    return Kind.VISION, {"samples": tuple(samples)}


def parse_response(robot_id: str, body: Mapping[str, Any], emergency: bool) -> dict:
    command_id = body.get("command_id")
    success = e.boolean(body, "success")
    response = CommandResponse(
        command_id=None if command_id is None else str(command_id)[:100],
        success=bool(success), message=e.text(body, "message", max_chars=1000) or "",
        emergency=emergency,
        details={k: v for k, v in body.items()
                 if k not in {"robot_id", "command_id", "success", "message", "timestamp"}},
    )
    return {"command_response": response}


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
