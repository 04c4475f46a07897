import shutil
import socket
import subprocess

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit

from app.settings_dialog import SettingsDialog
from services.connection_profile import (
    ConnectionProfile,
    InfluxProfile,
    MqttProfile,
    PostgresProfile,
    ProfileStore,
)
from tests.support.servers import Mosquitto, free_port

WAIT_MS = 8000





@pytest.fixture
def store(tmp_path):
    store = ProfileStore(tmp_path / "connections.toml")
    store.put(ConnectionProfile("lab", MqttProfile("broker.lab", 8883, True, "console"),
                                InfluxProfile("http://influx.lab:8086", "robots", "metrics"),
                                PostgresProfile("db.lab", 5433, "records", "operator")))
    store.put(ConnectionProfile("bench", MqttProfile("127.0.0.1", 1884)))
    store.set_active("bench")
    store.save()
    return store


@pytest.fixture
def secure_mosquitto(tmp_path):
    """A Mosquitto that accepts only user `console` with password `console-pass-77`."""
    workdir = tmp_path / "secure"
    workdir.mkdir()
    password_file = workdir / "passwd"
    passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    subprocess.run([passwd, "-b", "-c", str(password_file), "console", "console-pass-77"],
                   check=True, capture_output=True)
    broker = Mosquitto(workdir)
    config = broker.config.read_text().replace("allow_anonymous true", "allow_anonymous false")
    broker.config.write_text(config + f"password_file {password_file}\n")
    broker.start()
    yield broker
    broker.stop()


def make_dialog(qtbot, store, **kwargs) -> SettingsDialog:
    dialog = SettingsDialog(store, **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def field(dialog, key):
    return dialog.findChild(QLineEdit, key) or dialog.findChild(object, key)


def test_fields_load_from_the_store(qtbot, store, memory_keyring):
    memory_keyring.set_password("tonypi", "lab:mqtt", "never-shown-123")
    dialog = make_dialog(qtbot, store)
    assert dialog.current_profile_name == "bench"  # the active one
    assert field(dialog, "mqtt.host").text() == "127.0.0.1"
    assert field(dialog, "mqtt.port").value() == 1884
    assert dialog.banner.isHidden()

    dialog.selector.setCurrentText("lab")
    assert field(dialog, "mqtt.host").text() == "broker.lab"
    assert field(dialog, "mqtt.port").value() == 8883
    assert field(dialog, "mqtt.tls").isChecked()
    assert field(dialog, "mqtt.username").text() == "console"
    assert field(dialog, "influx.url").text() == "http://influx.lab:8086"
    assert field(dialog, "influx.bucket").text() == "metrics"
    assert field(dialog, "postgres.database").text() == "records"
    assert field(dialog, "postgres.port").value() == 5433
    password = field(dialog, "mqtt.secret")
    assert password.echoMode() == QLineEdit.EchoMode.Password
    assert password.text() == "" and password.placeholderText() == "(stored in keyring)"
    assert field(dialog, "postgres.secret").placeholderText() == "not set"


def test_save_writes_the_file_and_the_keyring(qtbot, store, memory_keyring):
    dialog = make_dialog(qtbot, store)
    dialog.selector.setCurrentText("lab")
    field(dialog, "mqtt.host").setText("broker2.lab")
    field(dialog, "postgres.host").setText("")  # no PostgreSQL for this profile
    qtbot.keyClicks(field(dialog, "mqtt.secret"), "typed-secret-456")
    qtbot.keyClicks(field(dialog, "influx.secret"), "influx-token-789")
    with qtbot.waitSignal(dialog.profile_saved, timeout=WAIT_MS) as saved:
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert saved.args == ["lab"]
    assert dialog.result() == SettingsDialog.DialogCode.Accepted

    text = store.path.read_text()
    assert "typed-secret-456" not in text and "influx-token-789" not in text
    again = ProfileStore(store.path)
    assert again.active_name == "lab"
    assert again.get("lab").mqtt.host == "broker2.lab"
    assert again.get("lab").records_url() is None
    assert again.get("bench") == store.get("bench")
    assert memory_keyring.passwords == {("tonypi", "lab:mqtt"): "typed-secret-456",
                                        ("tonypi", "lab:influx_token"): "influx-token-789"}


def test_invalid_values_are_shown_inline_and_nothing_is_written(qtbot, store, memory_keyring):
    before = store.path.read_text()
    dialog = make_dialog(qtbot, store)
    field(dialog, "mqtt.host").setText("")
    field(dialog, "influx.url").setText("influx.lab:8086")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert not dialog.error_label.isHidden()
    assert "MQTT host must not be empty" in dialog.error_label.text()
    assert "border" in field(dialog, "mqtt.host").styleSheet()
    assert store.path.read_text() == before

    field(dialog, "mqtt.host").setText("127.0.0.1")
    assert dialog.save() is False
    assert "http://host:8086" in dialog.error_label.text()


def test_rename_add_and_delete_carry_the_secrets(qtbot, store, memory_keyring):
    memory_keyring.set_password("tonypi", "lab:database", "pg-secret")
    memory_keyring.set_password("tonypi", "bench:mqtt", "bench-secret")
    dialog = make_dialog(qtbot, store)
    dialog.selector.setCurrentText("lab")
    assert dialog.rename_profile("lab-east")
    assert not dialog.rename_profile("bench")  # taken
    assert "exists already" in dialog.error_label.text()
    assert dialog.add_profile("lab-west")
    assert field(dialog, "mqtt.host").text() == "broker.lab"  # a copy of the shown one
    field(dialog, "mqtt.host").setText("west.lab")
    dialog.selector.setCurrentText("bench")
    dialog.delete_profile()
    assert dialog.save()

    again = ProfileStore(store.path)
    assert again.names() == ["lab-east", "lab-west"]
    assert again.get("lab-west").mqtt.host == "west.lab"
    assert memory_keyring.passwords == {("tonypi", "lab-east:database"): "pg-secret"}


def test_test_button_succeeds_against_real_mosquitto(qtbot, tmp_path, mosquitto,
                                                     memory_keyring):
    store = ProfileStore(tmp_path / "p.json")
    store.put(ConnectionProfile("local", MqttProfile("127.0.0.1", mosquitto.port)))
    dialog = make_dialog(qtbot, store)
    qtbot.mouseClick(dialog._test_buttons["mqtt"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Connected in" in dialog.result_text("mqtt"), timeout=WAIT_MS)
    assert f"127.0.0.1:{mosquitto.port}" in dialog.result_text("mqtt")
    assert dialog._test_buttons["mqtt"].isEnabled()


def test_test_button_reports_a_closed_port(qtbot, tmp_path, memory_keyring):
    port = free_port()
    store = ProfileStore(tmp_path / "p.json")
    store.put(ConnectionProfile("local", MqttProfile("127.0.0.1", port),
                                postgres=PostgresProfile("127.0.0.1", free_port())))
    dialog = make_dialog(qtbot, store)
    qtbot.mouseClick(dialog._test_buttons["mqtt"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog._test_buttons["postgres"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "connection refused" in dialog.result_text("mqtt"), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "connection refused" in dialog.result_text("postgres"),
                    timeout=WAIT_MS)
    assert str(port) in dialog.result_text("mqtt") and "✘" in dialog.result_text("mqtt")
    qtbot.mouseClick(dialog._test_buttons["influx"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "no InfluxDB URL" in dialog.result_text("influx"), timeout=WAIT_MS)


def test_a_silent_server_never_blocks_the_window(qtbot, tmp_path, memory_keyring):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        store = ProfileStore(tmp_path / "p.json")
        store.put(ConnectionProfile("local", MqttProfile("127.0.0.1", silent.getsockname()[1])))
        dialog = make_dialog(qtbot, store, check_timeout_s=1.5)
        dialog.test_connection("mqtt")
        # The click returned at once: the GUI thread is free while the check waits.
        assert "Testing" in dialog.result_text("mqtt")
        assert not dialog._test_buttons["mqtt"].isEnabled()
        field(dialog, "mqtt.username").setText("still typing")
        qtbot.waitUntil(lambda: "no CONNACK" in dialog.result_text("mqtt"), timeout=WAIT_MS)


def test_test_button_uses_the_stored_or_typed_password(qtbot, tmp_path, secure_mosquitto,
                                                       memory_keyring):
    store = ProfileStore(tmp_path / "p.json")
    store.put(ConnectionProfile("lab", MqttProfile("127.0.0.1", secure_mosquitto.port,
                                                   username="console")))
    memory_keyring.set_password("tonypi", "lab:mqtt", "console-pass-77")
    dialog = make_dialog(qtbot, store)
    dialog.test_connection("mqtt")
    qtbot.waitUntil(lambda: "Connected in" in dialog.result_text("mqtt"), timeout=WAIT_MS)
    qtbot.keyClicks(field(dialog, "mqtt.secret"), "a-wrong-one")
    dialog.test_connection("mqtt")
    qtbot.waitUntil(lambda: "not authorised" in dialog.result_text("mqtt"), timeout=WAIT_MS)
    assert "a-wrong-one" not in dialog.result_text("mqtt")


def test_fail_keyring_banner_and_save_without_secrets(qtbot, store, fail_keyring):
    dialog = make_dialog(qtbot, store)
    assert dialog.banner.isVisible()
    assert "cannot be saved" in dialog.banner.text()
    assert "TONYPI_MQTT_PASSWORD" in dialog.banner.text()
    assert dialog.save_button.text() == "Save without secrets"
    assert "TONYPI_MQTT_PASSWORD" in field(dialog, "mqtt.secret").placeholderText()

    field(dialog, "mqtt.host").setText("broker-b.lab")
    qtbot.keyClicks(field(dialog, "mqtt.secret"), "nowhere-to-store-it")
    with qtbot.waitSignal(dialog.profile_saved, timeout=WAIT_MS):
        assert dialog.save()
    assert "nowhere-to-store-it" not in store.path.read_text()
    assert ProfileStore(store.path).get("bench").mqtt.host == "broker-b.lab"
    assert not list(store.path.parent.glob("*keyring*"))
