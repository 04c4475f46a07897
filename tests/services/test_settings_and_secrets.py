import keyring
import pytest
from keyring.backends.fail import Keyring as FailKeyring
from keyring.backends.null import Keyring as NullKeyring

from services.secrets import SecretUnavailable, get_secret
from services.settings import SettingsError, load_settings


def test_file_then_environment(tmp_path):
    path = tmp_path / "ingest.toml"
    path.write_text('[mqtt]\nhost = "broker.lab"\nport = 1884\n'
                    '[history]\nbackend = "influx"\nurl = "http://influx:8086"\n'
                    '[ingest]\nbatch_max = 100\n')
    settings = load_settings(path, environ={"TONYPI_MQTT_PORT": "8883",
                                            "TONYPI_MQTT_SHARED_GROUP": "ingest"})
    assert (settings.mqtt.host, settings.mqtt.port) == ("broker.lab", 8883)
    assert settings.mqtt.shared_group == "ingest"
    assert settings.history.backend == "influx" and settings.ingest.batch_max == 100


def test_words_for_booleans_from_the_environment(tmp_path):
    assert load_settings(None, environ={"TONYPI_MQTT_TLS": "on"}).mqtt.tls is True
    assert load_settings(None, environ={"TONYPI_MQTT_TLS": "False"}).mqtt.tls is False


@pytest.mark.parametrize(("text", "environ", "needle"), [
    ('[records]\nurl = "postgresql://tonypi:hunter2@db/tonypi"\n', {}, "password"),
    ('[mqtt]\nport = "many"\n', {}, "port"),
    ('[mqtt]\npasword = "x"\n', {}, "unknown keys"),
    ("", {"TONYPI_HISTORY_BACKEND": "csv"}, "backend"),
    ("[mqtt\n", {}, "cannot read"),
    ('[mqtt]\ntls = "ture"\n', {}, "tls must be"),  # a typo is not False
    ("[mqtt]\ntls = 1\n", {}, "tls must be"),
    ("", {"TONYPI_MQTT_TLS": "yes please"}, "tls must be"),
    ("[mqtt]\nport = 1883.5\n", {}, "port must be"),
    ("[mqtt]\nport = true\n", {}, "port must be"),
    ("[mqtt]\nhost = 10\n", {}, "host must be"),
    ("[mqtt]\n[ingets]\nbatch_max = 5\n", {}, "unknown section"),
])
def test_bad_settings_are_explained(tmp_path, text, environ, needle):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=needle) as info:
        load_settings(path, environ=environ)
    assert "hunter2" not in str(info.value)


def test_secret_from_environment_first(monkeypatch):
    monkeypatch.setenv("TONYPI_DB_PASSWORD", "from-env")
    assert get_secret("database") == "from-env"


def test_no_keyring_is_reported_not_papered_over(monkeypatch):
    monkeypatch.delenv("TONYPI_INFLUX_TOKEN", raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(FailKeyring())
    try:
        assert get_secret("influx_token") is None
        with pytest.raises(SecretUnavailable, match="no usable OS keyring"):
            get_secret("influx_token", required=True)
    finally:
        keyring.set_keyring(previous)


def test_missing_secret_says_how_to_provide_it(monkeypatch):
    monkeypatch.delenv("TONYPI_MQTT_PASSWORD", raising=False)
    keyring.set_keyring(NullKeyring())
    with pytest.raises(SecretUnavailable, match="TONYPI_MQTT_PASSWORD"):
        get_secret("mqtt", required=True)
