"""Settings for the lab-server programs: a TOML file, then environment overrides.

Secrets are deliberately absent: URLs with a password are refused (see services.secrets).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class SettingsError(ValueError):
    """A settings file or variable is wrong; the message says which and why."""


@dataclass(frozen=True)
class MqttSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    client_id: str = "tonypi-ingest"
    tls: bool = False
    keepalive_s: int = 30
    # MQTT shared-subscription group: several ingest instances split the load on a
    # clustered broker instead of each storing everything.
    shared_group: str | None = None


@dataclass(frozen=True)
class RecordsSettings:
    url: str = "sqlite:///tonypi-records.db"


@dataclass(frozen=True)
class HistorySettings:
    backend: str = "sql"  # sql | influx
    url: str | None = None  # sql: defaults to the records URL; influx: http(s)://host:8086
    org: str = "tonypi"
    bucket: str = "robot_metrics"


@dataclass(frozen=True)
class IngestSettings:
    batch_max: int = 500
    flush_interval_s: float = 0.2
    stale_after_s: float = 30.0
    stats_interval_s: float = 60.0
    # Receipts on tonypi/receipts/<robot_id> after each batch (services.wire.receipts);
    # off only for a broker the project's agents never use.
    receipts: bool = True


@dataclass(frozen=True)
class ServerSettings:
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    records: RecordsSettings = field(default_factory=RecordsSettings)
    history: HistorySettings = field(default_factory=HistorySettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)


ENV_OVERRIDES = {
    "TONYPI_MQTT_HOST": ("mqtt", "host"),
    "TONYPI_MQTT_PORT": ("mqtt", "port"),
    "TONYPI_MQTT_USERNAME": ("mqtt", "username"),
    "TONYPI_MQTT_CLIENT_ID": ("mqtt", "client_id"),
    "TONYPI_MQTT_TLS": ("mqtt", "tls"),
    "TONYPI_MQTT_SHARED_GROUP": ("mqtt", "shared_group"),
    "TONYPI_RECORDS_URL": ("records", "url"),
    "TONYPI_HISTORY_BACKEND": ("history", "backend"),
    "TONYPI_HISTORY_URL": ("history", "url"),
    "TONYPI_INFLUX_ORG": ("history", "org"),
    "TONYPI_INFLUX_BUCKET": ("history", "bucket"),
}


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def _coerce(section: Any, name: str, value: Any, source: str) -> Any:
    """The value as the field's type, or SettingsError naming the key: a typo such as
    tls = "ture" must not quietly turn into False."""
    kind = str({f.name: f.type for f in fields(section)}[name])

    def refuse() -> SettingsError:
        return SettingsError(f"{source}: {name} must be {kind}, got {value!r}")

    if "bool" in kind:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS
        raise refuse()
    if isinstance(value, bool):  # TOML true where a number or text belongs
        raise refuse()
    try:
        if "int" in kind:
            if isinstance(value, float) and not value.is_integer():
                raise refuse()
            return int(value)
        if "float" in kind:
            return float(value)
    except (TypeError, ValueError) as exc:
        raise refuse() from exc
    if not isinstance(value, str):
        raise refuse()
    return None if value == "" else value


def load_settings(path: str | Path | None = None,
                  environ: dict[str, str] | None = None) -> ServerSettings:
    environ = os.environ if environ is None else environ
    raw: dict[str, dict[str, Any]] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read settings file {path}: {exc}") from exc
    settings = ServerSettings()
    sections = ("mqtt", "records", "history", "ingest")
    unknown_sections = sorted(set(raw) - set(sections))
    if unknown_sections:
        raise SettingsError(f"{path}: unknown section(s) {unknown_sections}; known: "
                            f"{list(sections)}")
    for section_name in sections:
        section = getattr(settings, section_name)
        known = {f.name for f in fields(section)}
        values = raw.get(section_name, {})
        unknown = set(values) - known
        if unknown:
            raise SettingsError(f"[{section_name}] has unknown keys: {sorted(unknown)}")
        changes = {k: _coerce(section, k, v, str(path)) for k, v in values.items()}
        for env_name, (target, key) in ENV_OVERRIDES.items():
            if target == section_name and env_name in environ:
                changes[key] = _coerce(section, key, environ[env_name], env_name)
        settings = replace(settings, **{section_name: replace(section, **changes)})
    _refuse_embedded_secrets(settings)
    if settings.history.backend not in ("sql", "influx"):
        raise SettingsError(f"history backend must be sql or influx, not "
                            f"{settings.history.backend!r}")
    return settings


def _refuse_embedded_secrets(settings: ServerSettings) -> None:
    for name, url in (("records.url", settings.records.url), ("history.url", settings.history.url)):
        if url and urlsplit(url).password:
            raise SettingsError(f"{name} contains a password; put it in the keyring or "
                                "TONYPI_DB_PASSWORD instead")
