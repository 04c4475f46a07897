"""The console's connection profiles: where the lab server's broker and stores are.

A profile names an MQTT broker, an optional InfluxDB and an optional PostgreSQL.  The
profile file (TOML if its name ends in .toml, else JSON) holds only non-secret settings;
passwords and tokens go to the OS keyring under `<profile>:mqtt`, `<profile>:database`
and `<profile>:influx_token` (service "tonypi"), or come from the TONYPI_* environment
variables.  Without a usable keyring nothing is written anywhere in plaintext:
`keyring_status` says why and what to do.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import tomllib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from services.secrets import (
    KEYRING_SERVICE,
    SECRET_ENV,
    delete_secret,
    get_secret,
    set_secret,
)

logger = logging.getLogger(__name__)

FILE_FORMAT_VERSION = 1
SECRET_KINDS = ("mqtt", "database", "influx_token")
MAX_NAME_CHARS = 64
PORT_RANGE = (1, 65535)
# Hosts are DNS names, IPv4 or IPv6 literals: no spaces, slashes or URL syntax.
_HOST = re.compile(r"^[A-Za-z0-9_.:\-\[\]%]+$")

NO_KEYRING_HELP = (
    "Passwords and tokens cannot be saved: {reason}. "
    "To fix it, install and unlock a Secret Service (for example gnome-keyring or "
    "KeePassXC) and reopen this dialog, or start the console with TONYPI_MQTT_PASSWORD, "
    "TONYPI_DB_PASSWORD and TONYPI_INFLUX_TOKEN set in its environment."
)


class ProfileError(ValueError):
    """A profile value is invalid; `field` names it (e.g. "mqtt.port") for the form."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _check_port(port: Any, where: str, field_name: str) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or \
            not PORT_RANGE[0] <= port <= PORT_RANGE[1]:
        raise ProfileError(f"{where} port must be a whole number from {PORT_RANGE[0]} to "
                           f"{PORT_RANGE[1]}, not {port!r}", field_name)


def _check_host(host: Any, where: str, field_name: str) -> None:
    if not isinstance(host, str) or not host.strip():
        raise ProfileError(f"{where} host must not be empty", field_name)
    if not _HOST.match(host):
        raise ProfileError(f"{where} host {host!r} is not a host name or IP address "
                           "(no spaces, slashes or URL)", field_name)


def _check_text(value: Any, what: str, field_name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(f"{what} must not be empty", field_name)


@dataclass(frozen=True)
class MqttProfile:
    host: str
    port: int = 1883
    tls: bool = False
    username: str | None = None

    def __post_init__(self) -> None:
        _check_host(self.host, "MQTT", "mqtt.host")
        _check_port(self.port, "MQTT", "mqtt.port")
        if not isinstance(self.tls, bool):
            raise ProfileError(f"MQTT TLS must be true or false, not {self.tls!r}", "mqtt.tls")


@dataclass(frozen=True)
class InfluxProfile:
    url: str | None = None
    org: str = "tonypi"
    bucket: str = "robot_metrics"

    def __post_init__(self) -> None:
        if self.url is not None:
            parts = urlsplit(self.url) if isinstance(self.url, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
                raise ProfileError(f"InfluxDB URL must look like http://host:8086 or "
                                   f"https://host:8086, not {self.url!r}", "influx.url")
            if parts.username or parts.password:
                # Never echo the URL: it may carry the very secret we refuse.
                raise ProfileError("InfluxDB URL must not contain a user or password; "
                                   "the token goes to the keyring", "influx.url")
            try:
                parts.port  # noqa: B018 - raises ValueError for a bad port
            except ValueError as exc:
                raise ProfileError(f"InfluxDB URL has a bad port: {exc}", "influx.url") from exc
        _check_text(self.org, "InfluxDB organisation", "influx.org")
        _check_text(self.bucket, "InfluxDB bucket", "influx.bucket")


@dataclass(frozen=True)
class PostgresProfile:
    host: str | None = None
    port: int = 5432
    database: str = "tonypi"
    user: str | None = None

    def __post_init__(self) -> None:
        if self.host is not None:
            _check_host(self.host, "PostgreSQL", "postgres.host")
        _check_port(self.port, "PostgreSQL", "postgres.port")
        _check_text(self.database, "PostgreSQL database", "postgres.database")


@dataclass(frozen=True)
class ConnectionProfile:
    name: str
    mqtt: MqttProfile
    influx: InfluxProfile = field(default_factory=InfluxProfile)
    postgres: PostgresProfile = field(default_factory=PostgresProfile)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ProfileError("profile name must not be empty", "name")
        if self.name != self.name.strip() or len(self.name) > MAX_NAME_CHARS or \
                not self.name.isprintable():
            raise ProfileError(f"profile name must be at most {MAX_NAME_CHARS} printable "
                               "characters without leading or trailing spaces", "name")

    def records_url(self) -> str | None:
        """SQLAlchemy URL of the records database, without the password (None if unset)."""
        pg = self.postgres
        if pg.host is None:
            return None
        host = f"[{pg.host}]" if ":" in pg.host and not pg.host.startswith("[") else pg.host
        user = f"{quote(pg.user, safe='')}@" if pg.user else ""
        return f"postgresql+psycopg://{user}{host}:{pg.port}/{quote(pg.database, safe='')}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ConnectionProfile:
        try:
            return cls(name=raw["name"], mqtt=MqttProfile(**raw["mqtt"]),
                       influx=InfluxProfile(**raw.get("influx", {})),
                       postgres=PostgresProfile(**raw.get("postgres", {})))
        except (KeyError, TypeError) as exc:
            raise ProfileError(f"profile {raw.get('name', '?')!r} is malformed: {exc}") from exc


def _optional(value: Any) -> str | None:
    return str(value).strip() or None


def flat_values(profile: ConnectionProfile | None) -> dict[str, Any]:
    """A profile as {"mqtt.host": ..., "influx.url": ...} for a form; None as "".
    Without a profile: the defaults, with an empty MQTT host to fill in."""
    source = profile or ConnectionProfile("new", MqttProfile("localhost"))
    values = {f"{section}.{key}": ("" if value is None else value)
              for section in ("mqtt", "influx", "postgres")
              for key, value in asdict(getattr(source, section)).items()}
    if profile is None:
        values["mqtt.host"] = ""
    return values


def section_from_flat(section: str, values: dict[str, Any]) -> Any:
    """One validated section (mqtt, influx or postgres) from form values; blanks -> None."""
    if section == "mqtt":
        return MqttProfile(host=str(values["mqtt.host"]).strip(), port=values["mqtt.port"],
                           tls=values["mqtt.tls"], username=_optional(values["mqtt.username"]))
    if section == "influx":
        return InfluxProfile(url=_optional(values["influx.url"]),
                             org=str(values["influx.org"]).strip(),
                             bucket=str(values["influx.bucket"]).strip())
    if section == "postgres":
        return PostgresProfile(host=_optional(values["postgres.host"]),
                               port=values["postgres.port"],
                               database=str(values["postgres.database"]).strip(),
                               user=_optional(values["postgres.user"]))
    raise ValueError(f"unknown section {section!r}")


def profile_from_flat(name: str, values: dict[str, Any]) -> ConnectionProfile:
    return ConnectionProfile(name, *(section_from_flat(section, values)
                                     for section in ("mqtt", "influx", "postgres")))


def default_profile_path() -> Path:
    """Where the console keeps its profiles: $XDG_CONFIG_HOME/tonypi/console-profiles.json."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tonypi" / "console-profiles.json"


class ProfileStore:
    """Profiles plus the active profile's name, kept in one JSON file without secrets."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._profiles: dict[str, ConnectionProfile] = {}
        self._active: str | None = None
        if self.path.exists():
            self.reload()

    @property
    def is_toml(self) -> bool:
        return self.path.suffix.lower() == ".toml"

    def reload(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
            raw = tomllib.loads(text) if self.is_toml else json.loads(text)
        except (OSError, ValueError) as exc:
            raise ProfileError(f"cannot read profile file {self.path}: {exc}") from exc
        if not isinstance(raw, dict) or not isinstance(raw.get("profiles"), list):
            raise ProfileError(f"profile file {self.path} has no 'profiles' list")
        profiles = [ConnectionProfile.from_dict(item) for item in raw["profiles"]]
        self.replace_all(profiles, raw.get("active"))

    def secret(self, profile_name: str, kind: str) -> str | None:
        """The secret to connect with (keyring, else TONYPI_* variable); see resolve_secret."""
        return resolve_secret(profile_name, kind)

    def is_configured(self) -> bool:
        """False on first start: no file yet, or a file without any profile."""
        return self.path.exists() and bool(self._profiles)

    def names(self) -> list[str]:
        return list(self._profiles)

    def profiles(self) -> list[ConnectionProfile]:
        return list(self._profiles.values())

    def get(self, name: str) -> ConnectionProfile:
        try:
            return self._profiles[name]
        except KeyError:
            raise ProfileError(f"no profile named {name!r}", "name") from None

    @property
    def active_name(self) -> str | None:
        return self._active

    def active(self) -> ConnectionProfile | None:
        return self._profiles.get(self._active) if self._active else None

    def set_active(self, name: str) -> None:
        self.get(name)
        self._active = name

    def put(self, profile: ConnectionProfile) -> None:
        """Add a profile or replace the one of the same name; the first becomes active."""
        self._profiles[profile.name] = profile
        if self._active is None:
            self._active = profile.name

    def remove(self, name: str) -> None:
        self.get(name)
        del self._profiles[name]
        if self._active == name:
            self._active = next(iter(self._profiles), None)

    def replace_all(self, profiles: Iterable[ConnectionProfile], active: str | None) -> None:
        result: dict[str, ConnectionProfile] = {}
        for profile in profiles:
            if profile.name in result:
                raise ProfileError(f"two profiles are named {profile.name!r}", "name")
            result[profile.name] = profile
        self._profiles = result
        self._active = active if active in result else next(iter(result), None)

    def save(self) -> None:
        """Write the file atomically (temp file + rename): a crash never leaves half a file."""
        payload = {"version": FILE_FORMAT_VERSION, "active": self._active,
                   "profiles": [profile.to_dict() for profile in self._profiles.values()]}
        text = _to_toml(payload) if self.is_toml else json.dumps(payload, indent=2) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".profiles-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        logger.info("saved %d connection profile(s) to %s", len(self._profiles), self.path)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    # JSON's string escapes (\", \\, \n, \uXXXX) are exactly TOML's basic-string escapes.
    return json.dumps(str(value), ensure_ascii=False)


def _to_toml(payload: dict[str, Any]) -> str:
    """The profile file as TOML (tomllib reads, nothing in the stdlib writes).  None
    values are left out: every field that may be None defaults to None."""
    lines = [f"version = {payload['version']}"]
    if payload["active"] is not None:
        lines.append(f"active = {_toml_value(payload['active'])}")
    for profile in payload["profiles"]:
        lines += ["", "[[profiles]]", f"name = {_toml_value(profile['name'])}"]
        for section in ("mqtt", "influx", "postgres"):
            lines += ["", f"[profiles.{section}]"]
            lines += [f"{key} = {_toml_value(value)}"
                      for key, value in profile[section].items() if value is not None]
    return "\n".join(lines) + "\n"


# -- secrets ------------------------------------------------------------------------

def secret_name(profile_name: str, kind: str) -> str:
    if kind not in SECRET_KINDS:
        raise ValueError(f"unknown secret kind {kind!r}; one of {SECRET_KINDS}")
    return f"{profile_name}:{kind}"


def stored_secret(profile_name: str, kind: str) -> str | None:
    """The profile's secret from the keyring only (None if absent or no keyring)."""
    return get_secret(secret_name(profile_name, kind))


def resolve_secret(profile_name: str, kind: str) -> str | None:
    """The secret to connect with: the profile's own from the keyring, else the
    process-wide TONYPI_* variable (the documented way when there is no keyring)."""
    return stored_secret(profile_name, kind) or os.environ.get(SECRET_ENV[kind]) or None


def store_secret(profile_name: str, kind: str, value: str) -> None:
    """Raises SecretUnavailable when no keyring can take it; never writes plaintext."""
    set_secret(secret_name(profile_name, kind), value)


def forget_secrets(profile_name: str) -> None:
    for kind in SECRET_KINDS:
        delete_secret(secret_name(profile_name, kind))


def move_secrets(old_name: str, new_name: str) -> None:
    """After a rename: the secrets follow the profile to its new name."""
    for kind in SECRET_KINDS:
        value = stored_secret(old_name, kind)
        if value:
            store_secret(new_name, kind, value)
        delete_secret(secret_name(old_name, kind))


def keyring_status() -> tuple[bool, str]:
    """(usable, message): whether secrets can be saved, and if not why and what to do."""
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return False, NO_KEYRING_HELP.format(reason="the keyring package is not installed")
    backend = keyring.get_keyring()
    module = type(backend).__module__
    label = getattr(backend, "name", type(backend).__name__)
    if module == "keyring.backends.fail":
        return False, NO_KEYRING_HELP.format(reason="no OS keyring is available on this "
                                                    "machine")
    if module == "keyring.backends.null":
        return False, NO_KEYRING_HELP.format(reason="the keyring is disabled (null backend)")
    if module.startswith("keyrings.alt") and "plaintext" in type(backend).__name__.lower():
        # keyrings.alt makes itself the default when installed; a plaintext file is
        # exactly what we promise not to write.
        return False, NO_KEYRING_HELP.format(reason=f"the only keyring ({label}) stores "
                                                    "secrets unencrypted in a file")
    if module == "keyring.backends.chainer" and not getattr(backend, "backends", None):
        return False, NO_KEYRING_HELP.format(reason="no OS keyring is available on this "
                                                    "machine")
    try:
        keyring.get_password(KEYRING_SERVICE, "__tonypi_probe__")
    except KeyringError as exc:
        return False, NO_KEYRING_HELP.format(reason=f"the keyring ({label}) does not "
                                                    f"answer: {exc}")
    return True, f"Passwords and tokens are stored in the OS keyring ({label})."

