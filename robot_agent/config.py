"""Agent configuration: a TOML file, overridden by environment variables, then the CLI.

The broker password is deliberately absent from both the file and the command line
(both end up in `ps`, backups and bug reports): it comes from TONYPI_MQTT_PASSWORD or
the OS keyring only.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from services.wire.topics import ROBOT_ID_PATTERN, is_valid_robot_id

logger = logging.getLogger(__name__)

SCENARIOS = ("normal", "overheating", "draining", "job")
SAMPLED_KINDS = ("status", "performance", "battery", "servos", "imu", "sensors")
DEFAULT_RATES_S: Mapping[str, float] = MappingProxyType({
    "status": 5.0, "performance": 1.0, "battery": 2.0, "servos": 1.0, "imu": 0.5, "sensors": 1.0,
})
DEFAULT_MQTT_PORT = 1883
DEFAULT_KEEPALIVE_S = 30
DEFAULT_OUTBOX_MAX_MESSAGES = 200_000  # ~ 5.5 h of every kind at the default rates
DEFAULT_OUTBOX_MAX_AGE_S = 7 * 24 * 3600.0
DEFAULT_RECEIPT_TIMEOUT_S = 30.0  # no receipt this long after a PUBACK: send again
DEFAULT_SIM_SPEED = 1.0  # simulated seconds per second; a demo raises it to show trends fast
KEYRING_SERVICE = "tonypi"
ROBOT_ID_PREFIX = "tonypi_"
_NOT_ALLOWED_IN_ID = re.compile(r"[^A-Za-z0-9_.:-]")


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which setting and why."""


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str = "localhost"
    port: int = DEFAULT_MQTT_PORT
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    keepalive_s: int = DEFAULT_KEEPALIVE_S


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    path: Path
    max_messages: int = DEFAULT_OUTBOX_MAX_MESSAGES
    max_age_s: float = DEFAULT_OUTBOX_MAX_AGE_S
    # Keep a row until the ingest's receipt says it is stored (a PUBACK only means the
    # broker has it); off only for a broker without a TonyPi ingest behind it.
    await_receipts: bool = True
    receipt_timeout_s: float = DEFAULT_RECEIPT_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class AgentConfig:
    robot_id: str
    outbox: OutboxConfig
    mqtt: MqttConfig = MqttConfig()
    scenario: str = "normal"
    simulate: bool = False
    seed: int | None = None
    camera_url: str | None = None
    rates_s: Mapping[str, float] = field(default_factory=lambda: DEFAULT_RATES_S)
    sim_speed: float = DEFAULT_SIM_SPEED  # only the simulation uses it


def default_robot_id(hostname: str | None = None) -> str:
    """`tonypi_<hostname>` with anything a topic level or a query could misread replaced."""
    host = _NOT_ALLOWED_IN_ID.sub("_", hostname if hostname is not None else socket.gethostname())
    robot_id = ROBOT_ID_PREFIX + (host or "unknown")
    # Long hostnames are cut to whatever length the wire format allows (it follows the
    # records schema's column width).
    while len(robot_id) > len(ROBOT_ID_PREFIX) + 1 and not is_valid_robot_id(robot_id):
        robot_id = robot_id[:-1]
    return robot_id


def default_outbox_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "tonypi-agent" / "outbox.db"


_SECTIONS: dict[str, set[str]] = {
    # sim_speed is left out on purpose: a demo/test knob (TONYPI_AGENT_SIM_SPEED or an
    # override), never something a robot's configuration file should set.
    "agent": {"robot_id", "scenario", "simulate", "seed", "camera_url"},
    "mqtt": {"host", "port", "username", "tls", "keepalive_s"},
    "rates": set(SAMPLED_KINDS),
    "outbox": {"path", "max_messages", "max_age_s", "await_receipts", "receipt_timeout_s"},
}
# (section, key) -> environment variable
_ENV: dict[tuple[str, str], str] = {
    ("agent", "robot_id"): "TONYPI_AGENT_ROBOT_ID",
    ("agent", "scenario"): "TONYPI_AGENT_SCENARIO",
    ("agent", "simulate"): "TONYPI_AGENT_SIMULATE",
    ("agent", "seed"): "TONYPI_AGENT_SEED",
    ("agent", "camera_url"): "TONYPI_AGENT_CAMERA_URL",
    ("agent", "sim_speed"): "TONYPI_AGENT_SIM_SPEED",
    ("mqtt", "host"): "TONYPI_MQTT_HOST",
    ("mqtt", "port"): "TONYPI_MQTT_PORT",
    ("mqtt", "username"): "TONYPI_MQTT_USERNAME",
    ("mqtt", "tls"): "TONYPI_MQTT_TLS",
    ("mqtt", "keepalive_s"): "TONYPI_MQTT_KEEPALIVE_S",
    ("outbox", "path"): "TONYPI_AGENT_OUTBOX_PATH",
    ("outbox", "max_messages"): "TONYPI_AGENT_OUTBOX_MAX_MESSAGES",
    ("outbox", "max_age_s"): "TONYPI_AGENT_OUTBOX_MAX_AGE_S",
    ("outbox", "await_receipts"): "TONYPI_AGENT_OUTBOX_AWAIT_RECEIPTS",
    ("outbox", "receipt_timeout_s"): "TONYPI_AGENT_OUTBOX_RECEIPT_TIMEOUT_S",
    **{("rates", kind): f"TONYPI_AGENT_RATE_{kind.upper()}_S" for kind in SAMPLED_KINDS},
}


def _read_toml(path: Path) -> dict[str, dict[str, Any]]:
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    merged: dict[str, dict[str, Any]] = {}
    for section, values in raw.items():
        if section not in _SECTIONS or not isinstance(values, dict):
            raise ConfigError(f"{path}: unknown section [{section}]")
        if "password" in values:
            raise ConfigError(f"{path}: [{section}] password is not read from files; "
                              "set TONYPI_MQTT_PASSWORD or store it in the keyring")
        unknown = set(values) - _SECTIONS[section]
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) in [{section}]: {sorted(unknown)}")
        merged[section] = dict(values)
    return merged


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name}: expected a boolean, got {value!r}")


def _as_number(name: str, value: Any, kind: type, minimum: float) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: expected a {kind.__name__}, got {value!r}") from exc
    if isinstance(value, bool) or number < minimum:
        raise ConfigError(f"{name}: must be >= {minimum}, got {value!r}")
    return number


def _password(username: str | None, env: Mapping[str, str]) -> str | None:
    if env.get("TONYPI_MQTT_PASSWORD"):
        return env["TONYPI_MQTT_PASSWORD"]
    if not username:
        return None
    try:
        import keyring  # optional: not installed on every robot
    except ImportError:
        logger.warning("no TONYPI_MQTT_PASSWORD and no keyring module: connecting as %s "
                       "without a password", username)
        return None
    try:
        secret = keyring.get_password(KEYRING_SERVICE, f"mqtt:{username}")
    except Exception as exc:  # noqa: BLE001 - every backend raises its own error types
        logger.warning("keyring unavailable (%s): connecting as %s without a password",
                       type(exc).__name__, username)
        return None
    if secret is None:
        logger.warning("no password stored in the keyring for service %r, user %r",
                       KEYRING_SERVICE, f"mqtt:{username}")
    return secret


def parse_broker(text: str) -> tuple[str, int]:
    """`host`, `host:port` or `[v6addr]:port`."""
    host, sep, port = text.rpartition(":")
    if not sep or "]" in port:
        host, port = text, str(DEFAULT_MQTT_PORT)
    host = host.strip("[]")
    if not host:
        raise ConfigError(f"--broker: no host in {text!r}")
    return host, _as_number("--broker port", port, int, 1)


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None,
                hostname: str | None = None) -> AgentConfig:
    """File < environment < `overrides` (keys `robot_id`, `scenario`, `simulate`, `seed`,
    `sim_speed`, `mqtt_host`, `mqtt_port`, `outbox_path`)."""
    env = os.environ if env is None else env
    values = _read_toml(path) if path is not None else {}
    for (section, key), var in _ENV.items():
        if env.get(var) not in (None, ""):
            values.setdefault(section, {})[key] = env[var]
    agent, mqtt = values.get("agent", {}), values.get("mqtt", {})
    rates, outbox = values.get("rates", {}), values.get("outbox", {})
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        prefix, _, name = key.partition("_")
        if prefix == "mqtt":
            mqtt[name] = value
        elif prefix == "outbox":
            outbox[name] = value
        else:
            agent[key] = value

    robot_id = str(agent.get("robot_id") or default_robot_id(hostname))
    if not is_valid_robot_id(robot_id):
        raise ConfigError(
            f"robot id {robot_id!r} is not allowed: it must match {ROBOT_ID_PATTERN.pattern} "
            "(letters, digits, '_', '.', ':', '-', starting with a letter or digit) and not "
            "be 'broadcast' or 'response'")
    scenario = str(agent.get("scenario", "normal"))
    if scenario not in SCENARIOS:
        raise ConfigError(f"scenario {scenario!r} unknown; choose one of {', '.join(SCENARIOS)}")
    seed = agent.get("seed")
    sim_speed = _as_number("agent.sim_speed", agent.get("sim_speed", DEFAULT_SIM_SPEED),
                           float, 0.01)
    if not math.isfinite(sim_speed):
        raise ConfigError(f"agent.sim_speed: must be finite, got {agent['sim_speed']!r}")
    receipt_timeout_s = _as_number(
        "outbox.receipt_timeout_s", outbox.get("receipt_timeout_s", DEFAULT_RECEIPT_TIMEOUT_S),
        float, 1.0)
    if not math.isfinite(receipt_timeout_s):
        raise ConfigError("outbox.receipt_timeout_s: must be finite, got "
                          f"{outbox['receipt_timeout_s']!r}")
    username = mqtt.get("username") or None
    rate_values = dict(DEFAULT_RATES_S)
    for kind, value in rates.items():
        rate_values[kind] = _as_number(f"rates.{kind}", value, float, 0.01)
    return AgentConfig(
        robot_id=robot_id,
        scenario=scenario,
        simulate=_as_bool("agent.simulate", agent.get("simulate", False)),
        seed=None if seed in (None, "") else _as_number("agent.seed", seed, int, 0),
        camera_url=agent.get("camera_url") or None,
        sim_speed=sim_speed,
        mqtt=MqttConfig(
            host=str(mqtt.get("host", "localhost")),
            port=_as_number("mqtt.port", mqtt.get("port", DEFAULT_MQTT_PORT), int, 1),
            username=username,
            password=_password(username, env),
            tls=_as_bool("mqtt.tls", mqtt.get("tls", False)),
            keepalive_s=_as_number("mqtt.keepalive_s",
                                   mqtt.get("keepalive_s", DEFAULT_KEEPALIVE_S), int, 5),
        ),
        rates_s=MappingProxyType(rate_values),
        outbox=OutboxConfig(
            path=Path(outbox.get("path") or default_outbox_path()).expanduser(),
            max_messages=_as_number("outbox.max_messages",
                                    outbox.get("max_messages", DEFAULT_OUTBOX_MAX_MESSAGES),
                                    int, 1),
            max_age_s=_as_number("outbox.max_age_s",
                                 outbox.get("max_age_s", DEFAULT_OUTBOX_MAX_AGE_S), float, 1.0),
            await_receipts=_as_bool("outbox.await_receipts",
                                    outbox.get("await_receipts", True)),
            receipt_timeout_s=receipt_timeout_s,
        ),
    )
