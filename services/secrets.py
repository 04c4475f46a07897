"""Secrets from the environment or the OS keyring, never from files or command lines.

A headless machine often has no keyring at all (keyring's `fail` backend); that is
reported clearly and never papered over with a plaintext fallback.
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

KEYRING_SERVICE = "tonypi"
# name -> environment variable that may carry it (for services run by systemd/compose).
SECRET_ENV = {
    "mqtt": "TONYPI_MQTT_PASSWORD",
    "database": "TONYPI_DB_PASSWORD",
    "influx_token": "TONYPI_INFLUX_TOKEN",
}


class SecretUnavailable(RuntimeError):
    """A required secret is in neither the environment nor a working keyring."""


def get_secret(name: str, *, required: bool = False) -> str | None:
    env_name = SECRET_ENV.get(name, f"TONYPI_{name.upper()}")
    value = os.environ.get(env_name)
    if value:
        return value
    value, problem = _from_keyring(name)
    if value:
        return value
    if required:
        raise SecretUnavailable(
            f"secret {name!r} not found: set {env_name} or store it with "
            f"`keyring set {KEYRING_SERVICE} {name}`" + (f" ({problem})" if problem else ""))
    return None


def set_secret(name: str, value: str) -> None:
    import keyring
    from keyring.errors import KeyringError

    try:
        keyring.set_password(KEYRING_SERVICE, name, value)
    except KeyringError as exc:
        raise SecretUnavailable(f"cannot store {name!r}: no usable keyring ({exc})") from exc


def delete_secret(name: str) -> None:
    """Remove a stored secret; one that is not there is not an error."""
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    try:
        keyring.delete_password(KEYRING_SERVICE, name)
    except PasswordDeleteError:
        return
    except KeyringError as exc:
        raise SecretUnavailable(f"cannot delete {name!r}: no usable keyring ({exc})") from exc


def _from_keyring(name: str) -> tuple[str | None, str | None]:
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return None, "the keyring package is not installed"
    try:
        return keyring.get_password(KEYRING_SERVICE, name), None
    except KeyringError as exc:
        logger.warning("no usable OS keyring (%s); secrets must come from the environment",
                       type(exc).__name__)
        return None, f"no usable OS keyring: {exc}"
