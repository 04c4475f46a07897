import json
import tomllib

import keyring
import pytest
from keyring.backends.fail import Keyring as FailKeyring
from keyring.backends.null import Keyring as NullKeyring

from services.connection_profile import (
    ConnectionProfile,
    InfluxProfile,
    MqttProfile,
    PostgresProfile,
    ProfileError,
    ProfileStore,
    keyring_status,
    move_secrets,
    resolve_secret,
    store_secret,
    stored_secret,
)
from services.secrets import SecretUnavailable


def lab_profile(name: str = "lab") -> ConnectionProfile:
    return ConnectionProfile(
        name=name,
        mqtt=MqttProfile("broker.lab", 8883, tls=True, username="console"),
        influx=InfluxProfile("https://influx.lab:8086", org="robots", bucket="metrics"),
        postgres=PostgresProfile("db.lab", 5433, database="tonypi", user="operator"),
    )


def test_first_start_is_not_configured(tmp_path):
    store = ProfileStore(tmp_path / "profiles.json")
    assert not store.is_configured()
    assert store.active() is None and store.names() == []


def test_round_trip_keeps_profiles_and_active(tmp_path):
    path = tmp_path / "sub" / "profiles.json"
    store = ProfileStore(path)
    store.put(lab_profile("lab"))
    store.put(ConnectionProfile("local", MqttProfile("127.0.0.1")))
    store.set_active("local")
    store.save()

    again = ProfileStore(path)
    assert again.is_configured()
    assert again.names() == ["lab", "local"]
    assert again.get("lab") == lab_profile("lab")
    assert again.active_name == "local"
    assert again.active().mqtt == MqttProfile("127.0.0.1", 1883, False, None)
    assert again.get("local").influx.url is None and again.get("local").records_url() is None


def test_records_url_has_no_password():
    assert lab_profile().records_url() == "postgresql+psycopg://operator@db.lab:5433/tonypi"
    odd = ConnectionProfile("x", MqttProfile("h"), postgres=PostgresProfile("::1", user="a@b"))
    assert odd.records_url() == "postgresql+psycopg://a%40b@[::1]:5432/tonypi"


def test_no_secret_ever_reaches_the_file(tmp_path, memory_keyring):
    path = tmp_path / "profiles.json"
    store = ProfileStore(path)
    store.put(lab_profile())
    store_secret("lab", "mqtt", "broker-pass-1234")
    store_secret("lab", "database", "pg-pass-5678")
    store_secret("lab", "influx_token", "influx-token-9abc")
    store.save()
    text = path.read_text()
    for secret in ("broker-pass-1234", "pg-pass-5678", "influx-token-9abc"):
        assert secret not in text
    assert "password" not in text and "token" not in text
    assert memory_keyring.passwords[("tonypi", "lab:mqtt")] == "broker-pass-1234"
    assert stored_secret("lab", "database") == "pg-pass-5678"


def test_secrets_follow_a_rename_and_env_is_the_fallback(memory_keyring, monkeypatch):
    monkeypatch.delenv("TONYPI_MQTT_PASSWORD", raising=False)
    store_secret("old", "mqtt", "s3cret")
    move_secrets("old", "new")
    assert stored_secret("old", "mqtt") is None
    assert resolve_secret("new", "mqtt") == "s3cret"
    assert resolve_secret("other", "mqtt") is None
    monkeypatch.setenv("TONYPI_MQTT_PASSWORD", "from-env")
    assert resolve_secret("other", "mqtt") == "from-env"
    assert resolve_secret("new", "mqtt") == "s3cret"  # the profile's own wins


def test_without_keyring_secrets_are_refused_not_written(tmp_path, fail_keyring):
    with pytest.raises(SecretUnavailable, match="no usable keyring"):
        store_secret("lab", "mqtt", "nowhere-to-go")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("build", "field", "needle"), [
    (lambda: MqttProfile("broker", 0), "mqtt.port", "1 to 65535"),
    (lambda: MqttProfile("broker", 70000), "mqtt.port", "1 to 65535"),
    (lambda: MqttProfile("broker", True), "mqtt.port", "whole number"),
    (lambda: MqttProfile(""), "mqtt.host", "must not be empty"),
    (lambda: MqttProfile("bro ker"), "mqtt.host", "not a host name"),
    (lambda: InfluxProfile("ftp://influx:8086"), "influx.url", "http://host:8086"),
    (lambda: InfluxProfile("influx:8086"), "influx.url", "http://host:8086"),
    (lambda: InfluxProfile("http://admin:hunter2@influx:8086"), "influx.url", "password"),
    (lambda: InfluxProfile("http://influx:99999"), "influx.url", "port"),
    (lambda: InfluxProfile(bucket=" "), "influx.bucket", "bucket must not be empty"),
    (lambda: PostgresProfile("db", 65536), "postgres.port", "PostgreSQL port"),
    (lambda: PostgresProfile(""), "postgres.host", "PostgreSQL host must not be empty"),
    (lambda: PostgresProfile("db", database=""), "postgres.database", "database"),
    (lambda: ConnectionProfile(" ", MqttProfile("h")), "name", "name must not be empty"),
    (lambda: ConnectionProfile(" lab", MqttProfile("h")), "name", "leading or trailing"),
])
def test_validation_explains_which_field(build, field, needle):
    with pytest.raises(ProfileError, match=needle) as info:
        build()
    assert info.value.field == field
    assert "hunter2" not in str(info.value)


def test_broken_files_are_explained(tmp_path):
    path = tmp_path / "profiles.json"
    path.write_text("{not json")
    with pytest.raises(ProfileError, match="cannot read profile file"):
        ProfileStore(path)
    path.write_text(json.dumps({"profiles": [{"name": "x", "mqtt": {"host": "h",
                                                                     "port": 0}}]}))
    with pytest.raises(ProfileError, match="MQTT port"):
        ProfileStore(path)
    path.write_text(json.dumps({"profiles": [{"name": "x", "mqtt": {"hots": "h"}}]}))
    with pytest.raises(ProfileError, match="malformed"):
        ProfileStore(path)


def test_remove_moves_the_active_profile(tmp_path):
    store = ProfileStore(tmp_path / "p.json")
    store.put(lab_profile("a"))
    store.put(lab_profile("b"))
    assert store.active_name == "a"
    store.remove("a")
    assert store.active_name == "b"
    with pytest.raises(ProfileError, match="no profile named"):
        store.get("a")
    with pytest.raises(ProfileError, match="two profiles"):
        store.replace_all([lab_profile("c"), lab_profile("c")], "c")


def test_keyring_status_tells_what_to_do(memory_keyring):
    usable, message = keyring_status()
    assert usable and "keyring" in message
    keyring.set_keyring(FailKeyring())
    usable, message = keyring_status()
    assert not usable
    assert "cannot be saved" in message and "Secret Service" in message
    assert "TONYPI_MQTT_PASSWORD" in message and "TONYPI_INFLUX_TOKEN" in message
    keyring.set_keyring(NullKeyring())  # silently drops secrets: not usable either
    assert keyring_status()[0] is False


def test_toml_file_round_trip(tmp_path, memory_keyring):
    path = tmp_path / "connections.toml"
    store = ProfileStore(path)
    tricky = ConnectionProfile('lab "B" \\ ü', MqttProfile("broker.lab", username='ops"x'))
    store.put(lab_profile())
    store.put(tricky)
    store.set_active(tricky.name)
    store_secret("lab", "mqtt", "toml-secret-42")
    store.save()
    assert "toml-secret-42" not in path.read_text()
    assert tomllib.loads(path.read_text())["active"] == tricky.name
    again = ProfileStore(path)
    assert again.profiles() == [lab_profile(), tricky]
    assert again.active_name == tricky.name
    assert again.secret("lab", "mqtt") == "toml-secret-42"
