"""'Test connection' for the settings dialog: one real connection per service.

Each check connects the way the console will (paho, influxdb-client, psycopg), stops
after one round trip and turns every outcome into a CheckResult whose message names
the exact cause: refused, DNS, timeout, TLS, rejected credentials, unknown bucket or
database.  No exception escapes and no message ever contains the password or token.
Checks block for at most about `timeout_s`; callers run them off the GUI thread.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.connection_profile import InfluxProfile, MqttProfile, PostgresProfile

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
MQTT_LOOP_STEP_S = 0.05
# libpq rounds connect_timeout to whole seconds and treats anything below 2 as 2.
PG_MIN_CONNECT_TIMEOUT_S = 2
# The Influx check reads one minute of robot ids: cheap, and it proves read access.
INFLUX_PROBE_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str
    elapsed_s: float


def _scrub(text: str, secret: str | None) -> str:
    # Whole words only, so a short password does not mangle every message it is part of.
    if not secret:
        return text
    return re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", "***", text)


def _guarded(check: Callable[..., CheckResult]) -> Callable[..., CheckResult]:
    """Whatever goes wrong inside a check becomes a failed CheckResult, secret removed."""

    @functools.wraps(check)
    def wrapper(profile: Any, secret: str | None, timeout_s: float = DEFAULT_TIMEOUT_S
                ) -> CheckResult:
        start = time.monotonic()
        try:
            result = check(profile, secret, timeout_s, start)
        except Exception as exc:  # noqa: BLE001 - the contract is: nothing escapes
            logger.exception("%s failed unexpectedly", check.__name__)
            result = CheckResult(False, f"unexpected error: {type(exc).__name__}: {exc}",
                                 time.monotonic() - start)
        return CheckResult(result.ok, _scrub(result.message, secret), result.elapsed_s)

    del wrapper.__wrapped__  # the public signature is the wrapper's, without `start`
    return wrapper


def _network_failure(exc: BaseException, host: str, port: int | None,
                     timeout_s: float) -> str | None:
    """The cause of a socket-level failure in words, or None if it is not one."""
    where = f"{host}:{port}" if port else host
    if isinstance(exc, ConnectionRefusedError):
        return (f"connection refused by {where}: nothing listens there "
                "(is the server running, is the port right?)")
    if isinstance(exc, socket.gaierror):
        return f"DNS failure: cannot resolve host {host!r} ({exc.strerror})"
    if isinstance(exc, TimeoutError | socket.timeout):
        return (f"timeout: no answer from {where} within {timeout_s:g} s "
                "(wrong host, or a firewall in the way?)")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS error: the certificate of {where} is not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        hint = (" - does this port speak TLS at all?"
                if "WRONG_VERSION_NUMBER" in str(exc).upper() else "")
        return f"TLS error talking to {where}: {exc.reason or exc}{hint}"
    if isinstance(exc, ConnectionResetError):
        return f"{where} closed the connection at once (TLS expected, or not this protocol?)"
    if isinstance(exc, OSError):
        return f"cannot connect to {where}: {exc.strerror or exc}"
    return None


# -- MQTT ---------------------------------------------------------------------------

_MQTT_BAD_CREDENTIALS = {4, 134}  # MQTT 3.1.1 return code, MQTT 5 reason code
_MQTT_NOT_AUTHORISED = {5, 135}


@_guarded
def check_mqtt(profile: MqttProfile, password: str | None, timeout_s: float,
               start: float) -> CheckResult:
    import paho.mqtt.client as mqtt

    where = f"{profile.host}:{profile.port}"
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"tonypi-console-check-{uuid.uuid4().hex[:12]}",
                         protocol=mqtt.MQTTv311)
    client.connect_timeout = timeout_s
    if profile.username:
        client.username_pw_set(profile.username, password or None)
    if profile.tls:
        client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    answers: list[Any] = []
    client.on_connect = lambda _c, _u, _flags, reason, _props: answers.append(reason)
    try:
        try:
            client.connect(profile.host, profile.port, keepalive=max(10, int(timeout_s) * 2))
        except OSError as exc:
            message = _network_failure(exc, profile.host, profile.port, timeout_s) or str(exc)
            if profile.tls and isinstance(exc, ConnectionResetError | ssl.SSLError):
                message = (f"TLS handshake with {where} failed ({exc}): does this port speak "
                           "TLS? (Mosquitto's TLS listener is usually 8883)")
            return CheckResult(False, message, time.monotonic() - start)
        deadline = start + timeout_s
        while not answers and time.monotonic() < deadline:
            status = client.loop(timeout=MQTT_LOOP_STEP_S)
            if status != mqtt.MQTT_ERR_SUCCESS and not answers:
                return CheckResult(False, f"{where} closed the connection without a CONNACK "
                                   f"({mqtt.error_string(status)}): is it an MQTT broker, "
                                   "and does it expect TLS?", time.monotonic() - start)
        elapsed = time.monotonic() - start
        if not answers:
            return CheckResult(False, f"timeout: {where} accepted the TCP connection but sent "
                               f"no CONNACK within {timeout_s:g} s", elapsed)
        return _mqtt_verdict(answers[0], profile, password, where, elapsed)
    finally:
        client.disconnect()
        client.loop(timeout=0.01)


def _mqtt_verdict(reason: Any, profile: MqttProfile, password: str | None, where: str,
                  elapsed: float) -> CheckResult:
    if not reason.is_failure:
        security = "TLS" if profile.tls else "no TLS"
        user = f"as {profile.username!r}" if profile.username else "anonymously"
        return CheckResult(True, f"MQTT broker {where} accepted the login {user} ({security})",
                           elapsed)
    code = reason.value
    if code in _MQTT_BAD_CREDENTIALS or code in _MQTT_NOT_AUTHORISED:
        if not profile.username:
            hint = "the broker wants a user name and password"
        elif not password:
            hint = f"no password is stored for {profile.username!r}"
        else:
            hint = f"bad credentials: check user {profile.username!r} and its password"
        return CheckResult(False, f"not authorised: {where} refused the login - {hint} "
                           f"(CONNACK: {reason})", elapsed)
    return CheckResult(False, f"{where} refused the connection (CONNACK: {reason})", elapsed)


# -- InfluxDB -----------------------------------------------------------------------

def _influx_failure(exc: BaseException, profile: InfluxProfile, host: str, port: int | None,
                    timeout_s: float) -> str:
    from influxdb_client.rest import ApiException
    from urllib3 import exceptions as http_errors

    if isinstance(exc, http_errors.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, ApiException) and exc.status == 0:
        # influxdb-client wraps TLS failures as "status 0": no HTTP answer at all.
        reason = str(exc.reason or "").splitlines()
        hint = (" - does this URL speak HTTPS at all?"
                if "WRONG_VERSION_NUMBER" in str(exc.reason).upper() else "")
        return f"TLS error talking to {host}:{port}: {reason[-1] if reason else exc}{hint}"
    if isinstance(exc, ApiException):
        detail = _api_message(exc)
        if exc.status == 401:
            return (f"unauthorized (HTTP 401): the token is not valid or may not read org "
                    f"{profile.org!r} ({detail})")
        if exc.status == 403:
            return f"forbidden (HTTP 403): the token may not read bucket {profile.bucket!r}"
        if exc.status == 404 and "bucket" in detail:
            return f"unknown bucket {profile.bucket!r} in org {profile.org!r} ({detail})"
        if exc.status == 404 and "organization" in detail:
            return f"unknown organisation {profile.org!r} ({detail})"
        return f"InfluxDB answered HTTP {exc.status}: {detail}"
    if isinstance(exc, http_errors.NameResolutionError):
        return f"DNS failure: cannot resolve host {host!r}"
    if isinstance(exc, http_errors.SSLError):
        return f"TLS error talking to {host}:{port}: {exc}"
    if isinstance(exc, http_errors.NewConnectionError):
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, OSError) and (text := _network_failure(cause, host, port,
                                                                    timeout_s)):
            return text
        if "refused" in str(exc).lower():
            return _network_failure(ConnectionRefusedError(), host, port, timeout_s) or str(exc)
        return f"cannot connect to {host}:{port}: {exc}"
    if isinstance(exc, http_errors.TimeoutError):
        return f"timeout: no answer from {host}:{port} within {timeout_s:g} s"
    if isinstance(exc, http_errors.ProtocolError):
        return f"{host}:{port} dropped the connection: {exc} (is this an InfluxDB URL?)"
    return _network_failure(exc, host, port, timeout_s) or f"{type(exc).__name__}: {exc}"


def _api_message(exc: Any) -> str:
    body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
    try:
        return str(json.loads(body)["message"])
    except (TypeError, ValueError, KeyError):
        return (body or exc.reason or "").strip()[:200]


@_guarded
def check_influx(profile: InfluxProfile, token: str | None, timeout_s: float,
                 start: float) -> CheckResult:
    from urllib.parse import urlsplit

    from influxdb_client import InfluxDBClient
    from influxdb_client.rest import ApiException

    from services.history import influx_flux as flux

    if profile.url is None:
        return CheckResult(False, "no InfluxDB URL is set", 0.0)
    parts = urlsplit(profile.url)
    host = parts.hostname or profile.url
    port = parts.port or (443 if parts.scheme == "https" else 80)
    with InfluxDBClient(url=profile.url, token=token or "", org=profile.org,
                        timeout=int(timeout_s * 1000)) as client:
        try:
            version = client.version()  # GET /ping: is an InfluxDB 2 there at all?
        except ApiException as exc:
            if exc.status == 0:
                return CheckResult(False, _influx_failure(exc, profile, host, port, timeout_s),
                                   time.monotonic() - start)
            return CheckResult(False, f"{profile.url} is not an InfluxDB 2 server "
                               f"(GET /ping answered HTTP {exc.status})", time.monotonic() - start)
        except Exception as exc:  # noqa: BLE001 - classified below
            return CheckResult(False, _influx_failure(exc, profile, host, port, timeout_s),
                               time.monotonic() - start)
        now = datetime.now(UTC)
        try:
            # The very Flux template the console uses, values as params: proves that the
            # token can read this bucket in this org.
            client.query_api().query(flux.LIST_ROBOTS, org=profile.org, params={
                flux.P_BUCKET: profile.bucket, flux.P_START: now - INFLUX_PROBE_WINDOW,
                flux.P_STOP: now})
        except Exception as exc:  # noqa: BLE001 - classified below
            message = _influx_failure(exc, profile, host, port, timeout_s)
            if not token and "401" in message:
                message += "; no token is stored for this profile"
            return CheckResult(False, message, time.monotonic() - start)
    return CheckResult(True, f"InfluxDB {version} at {profile.url}: bucket {profile.bucket!r} "
                       f"of org {profile.org!r} readable", time.monotonic() - start)


# -- PostgreSQL ---------------------------------------------------------------------

def _postgres_failure(text: str, profile: PostgresProfile, timeout_s: float) -> str:
    lowered = text.lower()
    where = f"{profile.host}:{profile.port}"
    user = profile.user or "(your login name)"
    if "password authentication failed" in lowered or "authentication failed" in lowered:
        return f"authentication failed: wrong password for user {user!r} on {where}"
    if "no password supplied" in lowered or "fe_sendauth" in lowered:
        return f"authentication failed: {where} wants a password for user {user!r}"
    if f'database "{profile.database.lower()}" does not exist' in lowered or \
            ("database" in lowered and "does not exist" in lowered):
        return f"unknown database {profile.database!r} on {where}"
    if "role" in lowered and "does not exist" in lowered:
        return f"unknown user {user!r} on {where}"
    if "connection refused" in lowered:
        return _network_failure(ConnectionRefusedError(), profile.host or "", profile.port,
                                timeout_s) or text
    if "resolve host" in lowered or "translate host name" in lowered:
        return f"DNS failure: cannot resolve host {profile.host!r}"
    if "timeout expired" in lowered:
        return f"timeout: no answer from {where} within {timeout_s:g} s"
    if "ssl" in lowered:
        return f"TLS error talking to {where}: {text.splitlines()[0]}"
    return text.strip().splitlines()[0] if text.strip() else "connection failed"


@_guarded
def check_postgres(profile: PostgresProfile, password: str | None, timeout_s: float,
                   start: float) -> CheckResult:
    import psycopg

    if profile.host is None:
        return CheckResult(False, "no PostgreSQL host is set", 0.0)
    try:
        with psycopg.connect(host=profile.host, port=profile.port, dbname=profile.database,
                             user=profile.user or None, password=password or None,
                             connect_timeout=max(PG_MIN_CONNECT_TIMEOUT_S,
                                                 math.ceil(timeout_s)),
                             application_name="tonypi-console-check") as conn:
            conn.execute("SELECT 1").fetchone()
            version = conn.info.server_version
            user = conn.info.user
    except psycopg.Error as exc:
        return CheckResult(False, _postgres_failure(str(exc), profile, timeout_s),
                           time.monotonic() - start)
    major, minor = divmod(version, 10000)
    return CheckResult(True, f"PostgreSQL {major}.{minor} at {profile.host}:{profile.port}: "
                       f"database {profile.database!r} as {user!r}", time.monotonic() - start)


def records_failure_text(profile: PostgresProfile, error: BaseException | str,
                         timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """A records-database failure (RecordsUnavailable, a driver error or its text) in the
    operator's words: "cannot reach PostgreSQL at host:port: connection refused" rather
    than libpq's paragraph.  Unknown failures keep the driver's first sentence."""
    text = " ".join(str(error).split())
    text = text.removeprefix("records database unavailable: ")
    lowered = text.lower()
    where = f"{profile.host}:{profile.port}"
    reach = f"cannot reach PostgreSQL at {where}"
    user = profile.user or "(your login name)"
    if "password authentication failed" in lowered:
        return f"password authentication failed for user {user} on {where}"
    if "no password supplied" in lowered or "fe_sendauth" in lowered:
        return (f"PostgreSQL at {where} wants a password for user {user}, and none is "
                "stored for this profile")
    if "connection refused" in lowered:
        return f"{reach}: connection refused (is the server running, is the port right?)"
    if "timeout expired" in lowered or "timed out" in lowered:
        return f"{reach}: timed out (wrong host, or a firewall in the way?)"
    if "resolve host" in lowered or "translate host name" in lowered or \
            "name or service not known" in lowered:
        return f"{reach}: unknown host {profile.host!r} (check the host name)"
    if "role" in lowered and "does not exist" in lowered:
        return f"PostgreSQL at {where} has no user {user}"
    if "database" in lowered and "does not exist" in lowered:
        return f"PostgreSQL at {where} has no database {profile.database!r}"
    if "no route to host" in lowered or "network is unreachable" in lowered:
        return f"{reach}: no route to host"
    return _postgres_failure(text, profile, timeout_s)


__all__ = ["CheckResult", "check_influx", "check_mqtt", "check_postgres",
           "records_failure_text"]
