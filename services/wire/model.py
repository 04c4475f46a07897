"""Typed, immutable messages: what every parsed MQTT payload becomes.

Both the ingest service and the console consume these; nothing downstream ever looks
at raw JSON again.  Standard library only, so the robot agent can import it on a Pi.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

FieldValue = float | bool


class Kind(StrEnum):
    STATUS = "status"
    PERFORMANCE = "performance"
    SENSORS = "sensors"
    SERVOS = "servos"
    BATTERY = "battery"
    IMU = "imu"
    LOCATION = "location"
    JOB = "job"
    LOG = "logs"
    SCAN = "scan"
    VISION = "vision"
    COMMAND_RESPONSE = "command_response"


class Measurement(StrEnum):
    """Time-series measurements of the original design (InfluxDB names)."""

    PERFORMANCE = "performance"
    SENSORS = "sensors"
    SERVOS = "servos"
    BATTERY = "battery"
    IMU = "imu"
    LOCATION = "location"


@dataclass(frozen=True, slots=True)
class Sample:
    """One time-series point: a measurement, its tags and numeric fields at one instant.

    `tags` never includes robot_id (it is its own attribute); `series` is the one extra
    tag value that distinguishes series inside a measurement (servo_id, sensor_type).
    """

    measurement: Measurement
    robot_id: str
    time: datetime
    fields: Mapping[str, FieldValue]
    tags: Mapping[str, str] = field(default_factory=dict)
    seq: int | None = None

    @property
    def series(self) -> str:
        return self.tags.get("servo_id") or self.tags.get("sensor_type") or ""


@dataclass(frozen=True, slots=True)
class RobotStatus:
    status: str  # online, offline, error, maintenance (robots.status vocabulary)
    ip_address: str | None = None
    camera_url: str | None = None
    emergency_stopped: bool = False
    emergency_reason: str | None = None
    hardware_mode: str | None = None
    platform: str | None = None
    # True only on the goodbye a robot sends itself when it stops cleanly; its last will
    # (published by the broker after an unclean loss) and legacy robots leave it False.
    clean: bool = False


@dataclass(frozen=True, slots=True)
class JobUpdate:
    """Either legacy job shape (progress or event) or the project's own job message."""

    status: str  # jobs.status vocabulary: active, completed, failed, cancelled
    started: bool = False  # the message announces a new job (not a progress update)
    job_key: str | None = None  # robot-side job identity when the format has one
    task_name: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    items_total: int | None = None
    items_done: int | None = None
    percent_complete: float | None = None
    last_item: Any = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    level: str  # DEBUG .. CRITICAL
    message: str
    category: str = "robot"
    source: str | None = None
    details: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CommandResponse:
    command_id: str | None
    success: bool
    message: str
    emergency: bool = False
    details: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """A parsed message from one robot.

    `time` is the clock the data is filed under: the robot's own UTC timestamp for the
    project's format, the receive time for legacy robots (their clocks carry no offset).

    `notes` says what the parser repaired or left out to make the message storable, as
    stable reason keys from a bounded vocabulary (field names come from the parser's
    code, never from the payload), each at most once, at most 32:
    "stripped_nul", "replaced_surrogate" (free text repaired), "truncated:<field>" (free
    text cut to its column), "dropped:<field>:<why>" (a legacy optional field left out;
    <why> is type, range, not_finite, too_long, bad_text, bad_time, too_large or
    too_deep), e.g. "dropped:system_info.hardware_mode:type", "dropped:last_item:too_large".
    The parser does not log them per message; the ingest counts them.
    """

    kind: Kind
    robot_id: str
    time: datetime
    received_at: datetime
    topic: str
    legacy: bool
    seq: int | None = None
    samples: tuple[Sample, ...] = ()
    status: RobotStatus | None = None
    job: JobUpdate | None = None
    log: LogEntry | None = None
    command_response: CommandResponse | None = None
    notes: tuple[str, ...] = ()
