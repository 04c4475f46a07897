import shutil
import socket
import subprocess

import pytest

from services.connection_check import CheckResult, check_influx, check_mqtt, check_postgres
from services.connection_profile import InfluxProfile, MqttProfile, PostgresProfile
from tests.support.influx_emulator import InfluxEmulator
from tests.support.servers import Mosquitto, free_port

BROKER_USER = "console"
BROKER_PASSWORD = "correct-horse-battery"
QUICK_TIMEOUT_S = 1.0


@pytest.fixture
def secure_mosquitto(tmp_path):
    """A second Mosquitto that wants a user name and password (no anonymous logins)."""
    workdir = tmp_path / "secure"
    workdir.mkdir()
    password_file = workdir / "passwd"
    passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    subprocess.run([passwd, "-b", "-c", str(password_file), BROKER_USER, BROKER_PASSWORD],
                   check=True, capture_output=True)
    broker = Mosquitto(workdir)
    config = broker.config.read_text().replace("allow_anonymous true", "allow_anonymous false")
    broker.config.write_text(config + f"password_file {password_file}\n")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def influx():
    emulator = InfluxEmulator(token="the-real-token").start()
    yield emulator
    emulator.stop()


@pytest.fixture
def silent_listener():
    """A loopback port that accepts TCP connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


def assert_failed(result: CheckResult, *needles: str) -> None:
    assert isinstance(result, CheckResult)
    assert not result.ok, result
    for needle in needles:
        assert needle in result.message, result.message
    assert result.elapsed_s >= 0


# -- MQTT ---------------------------------------------------------------------------

def test_mqtt_ok_against_real_mosquitto(mosquitto):
    result = check_mqtt(MqttProfile("127.0.0.1", mosquitto.port), None)
    assert result.ok, result.message
    assert f"127.0.0.1:{mosquitto.port}" in result.message
    assert 0 < result.elapsed_s < 5


def test_mqtt_closed_port_is_refused():
    port = free_port()
    assert_failed(check_mqtt(MqttProfile("127.0.0.1", port), None),
                  "connection refused", str(port))


def test_mqtt_unknown_host_is_a_dns_failure():
    assert_failed(check_mqtt(MqttProfile("no-such-host.invalid"), None), "DNS failure")


def test_mqtt_silence_is_a_timeout(silent_listener):
    result = check_mqtt(MqttProfile("127.0.0.1", silent_listener), None,
                        timeout_s=QUICK_TIMEOUT_S)
    assert_failed(result, "timeout", "no CONNACK")
    assert QUICK_TIMEOUT_S <= result.elapsed_s < QUICK_TIMEOUT_S + 2


def test_mqtt_tls_against_a_plain_port_is_a_tls_error(mosquitto):
    assert_failed(check_mqtt(MqttProfile("127.0.0.1", mosquitto.port, tls=True), None),
                  "TLS")


def test_mqtt_credentials(secure_mosquitto):
    good = MqttProfile("127.0.0.1", secure_mosquitto.port, username=BROKER_USER)
    result = check_mqtt(good, BROKER_PASSWORD)
    assert result.ok, result.message
    assert BROKER_PASSWORD not in result.message

    bad = check_mqtt(good, "not-the-password")
    assert_failed(bad, "not authorised", "bad credentials", "CONNACK")
    assert "not-the-password" not in bad.message

    anonymous = check_mqtt(MqttProfile("127.0.0.1", secure_mosquitto.port), None)
    assert_failed(anonymous, "not authorised", "wants a user name")

    no_password = check_mqtt(good, None)
    assert_failed(no_password, "not authorised", "no password")


# -- InfluxDB -----------------------------------------------------------------------

def test_influx_ok(influx):
    result = check_influx(InfluxProfile(influx.url), "the-real-token")
    assert result.ok, result.message
    assert "robot_metrics" in result.message
    assert influx.query_requests == 1  # the bucket was really read


def test_influx_wrong_token_is_401(influx):
    result = check_influx(InfluxProfile(influx.url), "an-old-token")
    assert_failed(result, "unauthorized", "401")
    assert "an-old-token" not in result.message
    assert_failed(check_influx(InfluxProfile(influx.url), None), "401", "no token")


def test_influx_unknown_bucket_and_org(influx):
    assert_failed(check_influx(InfluxProfile(influx.url, bucket="robot_metric"),
                               "the-real-token"), "unknown bucket 'robot_metric'")
    assert_failed(check_influx(InfluxProfile(influx.url, org="lab"), "the-real-token"),
                  "unknown organisation 'lab'")


def test_influx_unreachable():
    port = free_port()
    assert_failed(check_influx(InfluxProfile(f"http://127.0.0.1:{port}"), "t"),
                  "connection refused", str(port))
    assert_failed(check_influx(InfluxProfile("http://no-such-host.invalid:8086"), "t"),
                  "DNS failure")
    assert_failed(check_influx(InfluxProfile(None), "t"), "no InfluxDB URL")


def test_influx_https_against_plain_http_is_a_tls_error(influx):
    assert_failed(check_influx(InfluxProfile(influx.url.replace("http:", "https:")), "t"),
                  "TLS error")


def test_influx_silence_is_a_timeout(silent_listener):
    result = check_influx(InfluxProfile(f"http://127.0.0.1:{silent_listener}"), "t",
                          timeout_s=QUICK_TIMEOUT_S)
    assert_failed(result, "timeout")
    assert result.elapsed_s < QUICK_TIMEOUT_S + 2


# -- PostgreSQL ---------------------------------------------------------------------

def test_postgres_ok(postgres_server):
    result = check_postgres(PostgresProfile("127.0.0.1", postgres_server.port, "postgres",
                                            "postgres"), "unused-with-trust")
    assert result.ok, result.message
    assert "PostgreSQL 15" in result.message and "unused-with-trust" not in result.message


def test_postgres_unknown_database(postgres_server):
    result = check_postgres(PostgresProfile("127.0.0.1", postgres_server.port, "no_such_db",
                                            "postgres"), "pw-1234")
    assert_failed(result, "unknown database 'no_such_db'")
    assert "pw-1234" not in result.message


def test_postgres_unknown_user(postgres_server):
    assert_failed(check_postgres(PostgresProfile("127.0.0.1", postgres_server.port,
                                                 "postgres", "nobody_here"), None),
                  "unknown user 'nobody_here'")


def test_postgres_closed_port_and_no_host():
    port = free_port()
    assert_failed(check_postgres(PostgresProfile("127.0.0.1", port), "pw"),
                  "connection refused", str(port))
    assert_failed(check_postgres(PostgresProfile(None), "pw"), "no PostgreSQL host")


def test_postgres_silence_is_a_timeout(silent_listener):
    result = check_postgres(PostgresProfile("127.0.0.1", silent_listener), "pw", timeout_s=1)
    assert_failed(result, "timeout")


def test_nothing_escapes_and_the_secret_is_masked():
    # A port of the wrong type gets past no validation here (object.__new__ skips
    # __post_init__): the check must still answer with a CheckResult.
    broken = object.__new__(MqttProfile)
    object.__setattr__(broken, "host", "127.0.0.1")
    object.__setattr__(broken, "port", "not-a-port secret-xyz")
    object.__setattr__(broken, "tls", False)
    object.__setattr__(broken, "username", None)
    result = check_mqtt(broken, "secret-xyz")
    assert_failed(result)
    assert "secret-xyz" not in result.message


@pytest.mark.parametrize(("driver_text", "expected"), [
    ('records database unavailable: postgresql at db.lab:5432/tonypi: connection failed: '
     'connection to server at "10.0.0.5", port 5432 failed: Connection refused Is the '
     'server running on that host and accepting TCP/IP connections?',
     "cannot reach PostgreSQL at db.lab:5432: connection refused (is the server running, "
     "is the port right?)"),
    ("records database unavailable: postgresql at db.lab:5432/tonypi: connection timeout "
     "expired", "cannot reach PostgreSQL at db.lab:5432: timed out (wrong host, or a "
     "firewall in the way?)"),
    ('connection failed: FATAL: password authentication failed for user "otto"',
     "password authentication failed for user otto on db.lab:5432"),
    ("failed to resolve host 'db.lab': [Errno -2] Name or service not known",
     "cannot reach PostgreSQL at db.lab:5432: unknown host 'db.lab' (check the host name)"),
])
def test_records_failures_read_as_sentences(driver_text, expected):
    from services.connection_check import records_failure_text

    profile = PostgresProfile("db.lab", 5432, "tonypi", "otto")
    assert records_failure_text(profile, driver_text) == expected
