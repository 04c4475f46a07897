"""MQTT topic names: `tonypi/<kind>/<robot_id>`, shared with existing (legacy) robots."""

from __future__ import annotations

import re

PREFIX = "tonypi"
BROADCAST = "broadcast"
FORMAT_VERSION = 1

# Robot ids become MQTT topic levels, SQL values, InfluxDB tags and file names: allow
# what real robots use (tonypi_raspberrypi, tonypi_DESKTOP-AB12) and nothing that can
# change a topic's shape or a query's meaning (quotes, slashes, wildcards, spaces).
ROBOT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,49}")  # robots.robot_id is VARCHAR(50)
RESERVED_IDS = frozenset({BROADCAST, "response"})

# Topics a robot publishes on, with a robot id level...
DATA_KINDS_WITH_ID = (
    "status", "pi_status", "performance", "sensors", "servos", "battery", "imu",
    "location", "job", "logs", "scan", "vision",
)
# ...and the legacy ones without it (the payload's robot_id is the only id).
DATA_TOPICS_WITHOUT_ID = ("tonypi/battery", "tonypi/location")
RESPONSE_TOPICS = ("tonypi/commands/response", "tonypi/emergency_stop/response")


def is_valid_robot_id(robot_id: object) -> bool:
    return (
        isinstance(robot_id, str)
        and robot_id not in RESERVED_IDS
        and ROBOT_ID_PATTERN.fullmatch(robot_id) is not None
    )


def data_topic(kind: str, robot_id: str) -> str:
    return f"{PREFIX}/{kind}/{robot_id}"


def status_topic(robot_id: str) -> str:
    return data_topic("status", robot_id)


def command_topic(robot_id: str) -> str:
    return f"{PREFIX}/commands/{robot_id}"


def emergency_stop_topic(robot_id: str) -> str:
    return f"{PREFIX}/emergency_stop/{robot_id}"


COMMAND_RESPONSE_TOPIC = RESPONSE_TOPICS[0]
EMERGENCY_RESPONSE_TOPIC = RESPONSE_TOPICS[1]


def monitoring_subscriptions() -> list[str]:
    """Every topic filter a monitor (ingest, console) needs; commands to robots excluded."""
    filters = [f"{PREFIX}/{kind}/+" for kind in DATA_KINDS_WITH_ID]
    return [*filters, *DATA_TOPICS_WITHOUT_ID, *RESPONSE_TOPICS]


def robot_command_subscriptions(robot_id: str) -> list[str]:
    """What an agent listens to: its own and broadcast commands and emergency stops."""
    return [
        command_topic(robot_id),
        command_topic(BROADCAST),
        emergency_stop_topic(robot_id),
        emergency_stop_topic(BROADCAST),
    ]
