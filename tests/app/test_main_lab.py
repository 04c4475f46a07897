"""Lab mode: first start, sign-in against the lab's PostgreSQL (and a dead one), and
the history store the connection profile names."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QWidget
from sqlalchemy.engine import make_url

from app.login_dialog import LoginDialog
from app.main import PROFILES_FILE, Endpoint, LabConnection, _open_history, main
from services.connection_profile import (
    ConnectionProfile,
    MqttProfile,
    PostgresProfile,
    ProfileStore,
)
from services.history.sql_store import SqlHistoryStore
from services.records.db import Database
from services.records.migrate import upgrade
from services.records.users import UserRepository
from tests.services.history.support import prepare_sql_schema
from tests.support.servers import free_port

PASSWORD = "operator-pass-42"


def test_a_lab_profile_gives_the_history_and_reports_tabs_their_store(pg_url, qtbot):
    prepare_sql_schema(pg_url)
    url = make_url(pg_url)
    profile = ConnectionProfile("lab", MqttProfile(host="127.0.0.1", port=1883),
                                postgres=PostgresProfile(host=url.host, port=url.port,
                                                         database=url.database,
                                                         user=url.username))
    endpoint = Endpoint("127.0.0.1", 1883, label="lab", records_url=profile.records_url(),
                        records_password=url.password, profile=profile)
    parent = QWidget()
    qtbot.addWidget(parent)
    store = _open_history(None, endpoint, parent)
    try:
        assert isinstance(store, SqlHistoryStore)
        assert store.list_robots() == []  # it reaches the lab's database
    finally:
        store.close()


# -- first start and sign-in against a lab ---------------------------------------------

WAIT_MS = 15_000


@pytest.fixture
def fresh_config(tmp_path, monkeypatch, qapp):
    """An empty configuration directory, as on a new operator's machine."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    names = qapp.organizationName(), qapp.applicationName()
    qapp.setOrganizationName("TonyPi")
    qapp.setApplicationName("TonyPi Console")
    yield tmp_path / "config"
    qapp.setOrganizationName(names[0])
    qapp.setApplicationName(names[1])


@pytest.fixture
def lab_db(pg_url):
    upgrade(pg_url)
    prepare_sql_schema(pg_url)
    database = Database(pg_url)
    with database.session() as session:
        UserRepository(session).create("otto", "otto@lab.example", PASSWORD, "operator")
    database.dispose()
    return make_url(pg_url)


class ModalDriver:
    """Answers the modal dialogs the console opens, as a person would, from a timer."""

    def __init__(self, qtbot, answers: dict) -> None:
        self.seen: list[str] = []
        self._answers = answers
        self._timer = QTimer()
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._on_timer_ticked)
        self._timer.start()
        self._handled: set[int] = set()

    def _on_timer_ticked(self) -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None or id(dialog) in self._handled or not dialog.isVisible():
            return
        answer = self._answers.get(type(dialog).__name__)
        if answer is not None and answer(dialog) is not False:
            self._handled.add(id(dialog))
            self.seen.append(type(dialog).__name__)

    def stop(self) -> None:
        self._timer.stop()


def fill_settings(mqtt_port: int, pg, pg_port: int | None = None):
    def answer(dialog) -> None:
        values = {"mqtt.host": "127.0.0.1", "mqtt.port": mqtt_port, "postgres.host": pg.host,
                  "postgres.port": pg_port or pg.port, "postgres.database": pg.database,
                  "postgres.user": pg.username}
        for key, value in values.items():
            widget = dialog.findChild(QWidget, key)
            widget.setValue(value) if isinstance(value, int) else widget.setText(value)
        dialog.save_button.click()
    return answer


def sign_in(dialog) -> None:
    dialog.username_edit.setText("otto")
    dialog.password_edit.setText(PASSWORD)
    dialog.sign_in_button.click()


def test_first_start_saves_the_settings_and_goes_on_to_sign_in(qtbot, fresh_config, mosquitto,
                                                               lab_db, tmp_path):
    driver = ModalDriver(qtbot, {"SettingsDialog": fill_settings(mosquitto.port, lab_db),
                                 "LoginDialog": sign_in})
    shot = tmp_path / "window.png"
    try:
        code = main(["--run-for", "1", "--screenshot", str(shot)])
    finally:
        driver.stop()
    assert driver.seen == ["SettingsDialog", "LoginDialog"]
    assert code == 0 and shot.exists()
    store = ProfileStore(next(fresh_config.rglob(PROFILES_FILE)))
    assert store.active().postgres.port == lab_db.port


def test_a_dead_database_reads_plainly_and_the_settings_fix_it(qtbot, tmp_path, lab_db):
    dead_port = free_port()  # nothing listens there
    store = ProfileStore(tmp_path / PROFILES_FILE)
    store.put(ConnectionProfile("lab", MqttProfile("127.0.0.1"), postgres=PostgresProfile(
        host="127.0.0.1", port=dead_port, database=lab_db.database, user=lab_db.username)))
    store.save()
    lab = LabConnection(ProfileStore(store.path))
    assert lab.first_start()
    dialog = LoginDialog(lab.authenticate, QSettings(str(tmp_path / "c.ini"),
                                                     QSettings.Format.IniFormat),
                         open_settings=lab.open_settings)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.username_edit.setText("otto")
    dialog.password_edit.setText(PASSWORD)
    dialog.sign_in_button.click()
    qtbot.waitUntil(lambda: dialog.error_text() != "" and not dialog.busy, timeout=WAIT_MS)
    assert dialog.error_text() == (
        f"Cannot check the password right now: cannot reach PostgreSQL at 127.0.0.1:"
        f"{dead_port}: connection refused (is the server running, is the port right?). "
        "If the server is wrong, fix it in Connection settings.")
    assert "psycopg" not in dialog.error_text() and dialog.failed_attempts == 0
    driver = ModalDriver(qtbot, {"SettingsDialog": fill_settings(1883, lab_db)})
    try:
        dialog.settings_button.click()  # modal: returns once the driver saved
    finally:
        driver.stop()
    assert driver.seen == ["SettingsDialog"] and dialog.error_text() == ""
    with qtbot.waitSignal(dialog.signed_in, timeout=WAIT_MS) as signed:
        dialog.password_edit.setText(PASSWORD)
        dialog.sign_in_button.click()
    assert signed.args[0].username == "otto"
    assert lab.endpoint.profile.postgres.port == lab_db.port
    lab.database.dispose()
