from __future__ import annotations

import dataclasses

import pytest

from robot_agent.config import (
    DEFAULT_RATES_S,
    ConfigError,
    default_robot_id,
    load_config,
    parse_broker,
)
from services.wire.topics import is_valid_robot_id

TOML = """
[agent]
robot_id = "tonypi_lab3"
scenario = "draining"
simulate = true

[mqtt]
host = "broker.lab"
port = 8883
username = "robot3"
tls = true
keepalive_s = 20

[rates]
imu = 0.25

[outbox]
path = "{outbox}"
max_messages = 500
max_age_s = 3600
"""


def write(tmp_path, text):
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_toml_is_read_and_defaults_fill_the_rest(tmp_path):
    path = write(tmp_path, TOML.format(outbox=tmp_path / "o.db"))
    config = load_config(path, env={"TONYPI_MQTT_PASSWORD": "s3cret"})
    assert config.robot_id == "tonypi_lab3" and config.scenario == "draining"
    assert config.simulate is True
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.tls) == ("broker.lab", 8883, True)
    assert config.mqtt.username == "robot3" and config.mqtt.password == "s3cret"
    assert config.mqtt.keepalive_s == 20
    assert config.rates_s["imu"] == 0.25 and config.rates_s["status"] == 5.0
    assert config.outbox.max_messages == 500 and config.outbox.path == tmp_path / "o.db"
    assert "s3cret" not in repr(config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.robot_id = "other"


def test_environment_overrides_file_and_cli_overrides_environment(tmp_path):
    path = write(tmp_path, TOML.format(outbox=tmp_path / "o.db"))
    env = {"TONYPI_AGENT_ROBOT_ID": "from_env", "TONYPI_MQTT_HOST": "env-host",
           "TONYPI_MQTT_PORT": "1999", "TONYPI_AGENT_SIMULATE": "no",
           "TONYPI_AGENT_RATE_STATUS_S": "2"}
    config = load_config(path, env=env)
    assert config.robot_id == "from_env" and config.mqtt.host == "env-host"
    assert config.mqtt.port == 1999 and config.simulate is False
    assert config.rates_s["status"] == 2.0
    config = load_config(path, env=env, overrides={"robot_id": "from_cli", "mqtt_port": 1884,
                                                   "scenario": None})
    assert config.robot_id == "from_cli" and config.mqtt.port == 1884
    assert config.scenario == "draining"


def test_no_file_means_defaults(tmp_path):
    config = load_config(None, env={"XDG_STATE_HOME": str(tmp_path)}, hostname="raspberrypi")
    assert config.robot_id == "tonypi_raspberrypi"
    assert dict(config.rates_s) == dict(DEFAULT_RATES_S)
    assert config.mqtt.password is None


@pytest.mark.parametrize("hostname", ["DESKTOP-AB12", "my host/1", "ünï", "", "x" * 100])
def test_default_robot_id_is_always_valid(hostname):
    robot_id = default_robot_id(hostname)
    assert robot_id.startswith("tonypi_") and is_valid_robot_id(robot_id)


@pytest.mark.parametrize("bad", ["a/b", "broadcast", "has space", "+", "x\") |> drop("])
def test_invalid_robot_id_is_a_clear_error(bad):
    with pytest.raises(ConfigError, match="robot id"):
        load_config(None, env={"TONYPI_AGENT_ROBOT_ID": bad})


def test_password_in_the_file_is_refused(tmp_path):
    path = write(tmp_path, '[mqtt]\nusername = "u"\npassword = "p"\n')
    with pytest.raises(ConfigError, match="TONYPI_MQTT_PASSWORD"):
        load_config(path, env={})


@pytest.mark.parametrize("text, match", [
    ("[agent]\nrobot_idd = 'x'\n", "unknown key"),
    ("[nonsense]\na = 1\n", "unknown section"),
    ("[rates]\nimu = 0\n", "rates.imu"),
    ("[agent]\nscenario = 'exploding'\n", "scenario"),
    ("[mqtt]\nport = 'abc'\n", "mqtt.port"),
    ("not toml = = =", "cannot read"),
])
def test_bad_files_name_the_setting(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_config(write(tmp_path, text), env={})


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml", env={})


def test_keyring_without_a_backend_gives_no_password(tmp_path):
    # conftest selects keyring's null backend: it stores nothing and raises nothing.
    path = write(tmp_path, '[mqtt]\nusername = "robot3"\n')
    assert load_config(path, env={}).mqtt.password is None


def test_parse_broker():
    assert parse_broker("host") == ("host", 1883)
    assert parse_broker("10.0.0.5:1884") == ("10.0.0.5", 1884)
    assert parse_broker("[::1]:1885") == ("::1", 1885)
    with pytest.raises(ConfigError):
        parse_broker(":1883")


def test_password_comes_from_the_keyring_under_mqtt_username(tmp_path):
    import keyring
    from keyring.backend import KeyringBackend

    class MemoryKeyring(KeyringBackend):
        priority = 1

        def __init__(self):
            super().__init__()
            self.store = {}

        def get_password(self, service, username):
            return self.store.get((service, username))

        def set_password(self, service, username, password):
            self.store[(service, username)] = password

        def delete_password(self, service, username):
            self.store.pop((service, username), None)

    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    ring.set_password("tonypi", "mqtt:robot3", "from-keyring")
    keyring.set_keyring(ring)
    try:
        path = write(tmp_path, '[mqtt]\nusername = "robot3"\n')
        assert load_config(path, env={}).mqtt.password == "from-keyring"
        # the environment wins over the keyring
        assert load_config(path, env={"TONYPI_MQTT_PASSWORD": "env"}).mqtt.password == "env"
    finally:
        keyring.set_keyring(previous)


def test_await_receipts_is_on_by_default_and_switchable(tmp_path):
    defaults = load_config(None, env={"XDG_STATE_HOME": str(tmp_path)}, hostname="pi")
    assert defaults.outbox.await_receipts is True
    assert defaults.outbox.receipt_timeout_s == 30.0
    path = write(tmp_path, TOML.format(outbox=tmp_path / "o.db")
                 + "await_receipts = false\nreceipt_timeout_s = 5\n")
    config = load_config(path, env={})
    assert config.outbox.await_receipts is False and config.outbox.receipt_timeout_s == 5.0
    config = load_config(path, env={"TONYPI_AGENT_OUTBOX_AWAIT_RECEIPTS": "true",
                                    "TONYPI_AGENT_OUTBOX_RECEIPT_TIMEOUT_S": "12.5"})
    assert config.outbox.await_receipts is True and config.outbox.receipt_timeout_s == 12.5


@pytest.mark.parametrize(("line", "match"), [
    ('await_receipts = "sometimes"', "outbox.await_receipts"),
    ("receipt_timeout_s = 0.5", "outbox.receipt_timeout_s"),
    ("receipt_timeout_s = inf", "outbox.receipt_timeout_s"),
    ("receipt_timeout_s = true", "outbox.receipt_timeout_s"),
    ("await_receipt = true", "unknown key"),
])
def test_bad_receipt_settings_are_refused(tmp_path, line, match):
    path = write(tmp_path, TOML.format(outbox=tmp_path / "o.db") + line + "\n")
    with pytest.raises(ConfigError, match=match):
        load_config(path, env={})
