from __future__ import annotations

import keyring
import pytest
from keyring.backends.fail import Keyring as FailKeyring
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog

from app.login_dialog import LoginDialog, retry_delay_s
from services.auth import AuthUser
from services.records.db import Database
from services.records.errors import RecordsUnavailable
from services.records.migrate import upgrade
from services.records.users import UserRepository

WAIT_MS = 5000
PASSWORD = "operator-pass-42"




@pytest.fixture
def users_db(sqlite_url):
    upgrade(sqlite_url)
    database = Database(sqlite_url)
    with database.session() as session:
        UserRepository(session).create("otto", "otto@lab.example", PASSWORD, "operator")
    yield database
    database.dispose()


@pytest.fixture
def authenticate(users_db):
    calls: list[str] = []

    def check(username: str, password: str) -> AuthUser:
        calls.append(username)
        with users_db.session() as session:
            return UserRepository(session).authenticate(username, password)

    check.calls = calls
    return check


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat)


def _open(qtbot, authenticate, settings, **kwargs) -> LoginDialog:
    dialog = LoginDialog(authenticate, settings, **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _sign_in(qtbot, dialog: LoginDialog, username: str | None, password: str | None) -> None:
    if username is not None:
        dialog.username_edit.setText(username)
    if password is not None:
        dialog.password_edit.setText(password)
    dialog.sign_in_button.click()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=WAIT_MS)


def test_success_accepts_and_exposes_the_user(qtbot, authenticate, settings):
    dialog = _open(qtbot, authenticate, settings)
    assert dialog.user is None
    dialog.sign_in_button.click()
    assert dialog.busy is False and authenticate.calls == []  # nothing typed: not sent
    with qtbot.waitSignal(dialog.signed_in, timeout=WAIT_MS) as signed:
        dialog.username_edit.setText("otto")
        dialog.password_edit.setText(PASSWORD)
        dialog.sign_in_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted and not dialog.isVisible()
    assert dialog.user == signed.args[0]
    assert (dialog.user.username, dialog.user.role) == ("otto", "operator")


@pytest.mark.parametrize("username", ["otto", "nobody"])
def test_refusal_shows_the_same_error_and_stays_open(qtbot, authenticate, settings, username):
    dialog = _open(qtbot, authenticate, settings)
    _sign_in(qtbot, dialog, username, "not-the-password")
    assert dialog.isVisible() and dialog.result() == 0 and dialog.user is None
    # Unknown user and wrong password look exactly alike.
    assert dialog.error_text() == "Invalid username or password (1 failed attempt)."
    assert dialog.failed_attempts == 1
    assert dialog.password_edit.text() == ""  # cleared for the next try
    _sign_in(qtbot, dialog, "otto", PASSWORD)
    assert dialog.user.username == "otto"


def test_empty_fields_are_not_sent(qtbot, authenticate, settings):
    dialog = _open(qtbot, authenticate, settings)
    _sign_in(qtbot, dialog, "otto", "")
    assert "Enter your user name and password" in dialog.error_text()
    assert authenticate.calls == [] and dialog.failed_attempts == 0


def test_repeated_failures_wait_longer_each_time(qtbot, authenticate, settings):
    assert [retry_delay_s(n) for n in range(6)] == [0, 0, 1, 2, 4, 8]
    assert retry_delay_s(50) == 30
    dialog = _open(qtbot, authenticate, settings, retry_delay_base_s=0.3)
    _sign_in(qtbot, dialog, "otto", "guess-number-1")
    assert dialog.sign_in_button.isEnabled()  # one slip costs nothing
    _sign_in(qtbot, dialog, "otto", "guess-number-2")
    assert dialog.failed_attempts == 2
    assert not dialog.sign_in_button.isEnabled()
    assert "(2 failed attempts). Try again in" in dialog.error_text()
    dialog.password_edit.setText(PASSWORD)
    dialog.buttons.accepted.emit()  # Enter while waiting: ignored
    assert authenticate.calls == ["otto", "otto"]
    qtbot.waitUntil(dialog.sign_in_button.isEnabled, timeout=WAIT_MS)
    assert "Try again" not in dialog.error_text()
    _sign_in(qtbot, dialog, None, None)
    assert dialog.user is not None


def test_database_down_is_not_a_failed_attempt(qtbot, settings):
    def unreachable(username, password):
        raise RecordsUnavailable("records database unavailable: postgresql at db.lab:5432/"
                                 "tonypi: connection refused")

    dialog = _open(qtbot, unreachable, settings)
    _sign_in(qtbot, dialog, "otto", PASSWORD)
    assert "Cannot check the password right now" in dialog.error_text()
    assert "connection refused" in dialog.error_text()
    assert dialog.failed_attempts == 0 and dialog.isVisible()


def test_username_is_remembered_across_instances(qtbot, authenticate, settings, tmp_path):
    first = _open(qtbot, authenticate, settings)
    assert first.username_edit.text() == ""
    _sign_in(qtbot, first, "otto", PASSWORD)
    assert first.user is not None
    # A new dialog, even on a new QSettings object over the same file, knows the name.
    again = QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat)
    second = _open(qtbot, authenticate, again)
    assert second.username_edit.text() == "otto"
    assert second.password_edit.text() == ""  # no keyring: nothing else kept
    assert second.focusWidget() is second.password_edit
    assert PASSWORD not in (tmp_path / "console.ini").read_text()


def test_keyring_checkbox_stores_and_forgets_the_password(qtbot, authenticate, settings,
                                                          memory_keyring):
    dialog = _open(qtbot, authenticate, settings)
    assert dialog.remember_check.isEnabled() and not dialog.keyring_hint.isVisible()
    dialog.remember_check.setChecked(True)
    _sign_in(qtbot, dialog, "otto", PASSWORD)
    assert memory_keyring.passwords == {("tonypi", "console:otto"): PASSWORD}

    # Next start: name and password are filled in, one click signs in.
    second = _open(qtbot, authenticate, settings)
    assert second.password_edit.text() == PASSWORD and second.remember_check.isChecked()
    # Typing another name drops the stored password: it must never go out as another's.
    second.username_edit.textEdited.emit("someone")
    assert second.password_edit.text() == "" and not second.remember_check.isChecked()
    second.username_edit.setText("otto")
    second.username_edit.editingFinished.emit()
    assert second.password_edit.text() == PASSWORD
    second.remember_check.setChecked(False)  # opting out forgets it
    _sign_in(qtbot, second, None, None)
    assert second.user is not None and memory_keyring.passwords == {}


def test_without_a_keyring_the_checkbox_explains(qtbot, authenticate, settings):
    previous = keyring.get_keyring()
    keyring.set_keyring(FailKeyring())
    try:
        dialog = _open(qtbot, authenticate, settings)
        assert not dialog.remember_check.isEnabled()
        assert dialog.keyring_hint.isVisible()
        assert "no OS keyring is available" in dialog.keyring_hint.text()
        _sign_in(qtbot, dialog, "otto", PASSWORD)
        assert dialog.user is not None  # signing in still works
        assert not dialog.remember_check.isEnabled()
    finally:
        keyring.set_keyring(previous)
