"""The sign-in dialog the console opens with.

The dialog only collects a user name and password and hands them to the injected
`authenticate(username, password) -> AuthUser` (in production a UserRepository on the
records database), on Qt's thread pool so a slow or unreachable database server never
freezes the window.  It remembers the user name in QSettings and, only if asked and only
in a real OS keyring (service "tonypi", name "console:<username>"), the password.

A refused sign-in says "invalid username or password" and never which of the two was
wrong.  After repeated failures the Sign in button waits a little longer each time;
this slows a person guessing at the keyboard (the slow scrypt hash and the database
are what protect against anything else).
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QSettings, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QFont, QTextDocumentFragment
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.theme import app_icon
from services import connection_profile
from services.auth import AuthError, AuthUser
from services.secrets import SecretUnavailable, delete_secret, get_secret, set_secret
from widgets.palette import ERROR_TEXT_COLOURS, is_dark

logger = logging.getLogger(__name__)

USERNAME_KEY = "login/username"
KEYRING_NAME_PREFIX = "console:"  # keyring service "tonypi" (services.secrets)
FREE_ATTEMPTS = 2  # failures before the button starts waiting
RETRY_DELAY_BASE_S = 1.0  # wait after the first failure past FREE_ATTEMPTS, then doubling
RETRY_DELAY_MAX_S = 30.0
COUNTDOWN_TICK_MS = 200
MIN_WIDTH_PX = 400
ICON_SIZE_PX = 48
# (light palette, dark palette)
HINT_COLOUR = "#6b6b6b"

Authenticate = Callable[[str, str], AuthUser]
# Opens the connection settings over the dialog; True when they were saved (and the
# next `authenticate` uses them).
OpenSettings = Callable[[QWidget], bool]


def keyring_name(username: str) -> str:
    return f"{KEYRING_NAME_PREFIX}{username}"


def _keyring_reason(message: str) -> str:
    # keyring_status() says "Passwords and tokens cannot be saved: <reason>. To fix it, ..."
    # (about the connection secrets); only the reason applies here.
    reason = message.partition(": ")[2] or message
    return reason.split(". To fix it", 1)[0].rstrip(".")


def retry_delay_s(failures: int, base_s: float = RETRY_DELAY_BASE_S) -> float:
    """Seconds the Sign in button waits after `failures` failed attempts in a row."""
    if failures < FREE_ATTEMPTS:
        return 0.0
    return min(RETRY_DELAY_MAX_S, base_s * 2 ** (failures - FREE_ATTEMPTS))


class _AttemptSignals(QObject):
    # attempt number, AuthUser or None, exception or None; emitted on a pool thread.
    attempt_finished = Signal(int, object, object)


class LoginDialog(QDialog):
    signed_in = Signal(object)  # the AuthUser, just before the dialog accepts

    def __init__(self, authenticate: Authenticate, settings: QSettings,
                 parent: QWidget | None = None, *, notice: str | None = None,
                 retry_delay_base_s: float = RETRY_DELAY_BASE_S,
                 open_settings: OpenSettings | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sign in - TonyPi Console")
        self.setWindowIcon(app_icon())
        self.setMinimumWidth(MIN_WIDTH_PX)
        self._authenticate = authenticate
        self._settings = settings
        self._open_settings = open_settings
        self._retry_delay_base_s = retry_delay_base_s
        self._user: AuthUser | None = None
        self._failed_attempts = 0
        self._attempt = 0
        self._busy = False
        self._retry_at = 0.0  # time.monotonic() when Sign in may be pressed again
        self._password_from_keyring = False
        self._keyring_usable, keyring_message = connection_profile.keyring_status()
        self._error_colour = ERROR_TEXT_COLOURS[is_dark(self)]
        # Unparented: a late answer after the dialog is gone finds no receiver, no crash.
        self._signals = _AttemptSignals()
        self._signals.attempt_finished.connect(self._on_attempt_finished)
        self._countdown = QTimer(self)
        self._countdown.setInterval(COUNTDOWN_TICK_MS)
        self._countdown.timeout.connect(self._on_countdown_ticked)
        self._error_text = ""
        self._build_ui(notice, keyring_message)
        self._restore()

    # -- public ------------------------------------------------------------------------

    @property
    def user(self) -> AuthUser | None:
        """Who signed in, once the dialog accepted; None before or after Cancel."""
        return self._user

    @property
    def busy(self) -> bool:
        """True while a sign-in is being checked."""
        return self._busy

    @property
    def failed_attempts(self) -> int:
        return self._failed_attempts

    # -- layout ------------------------------------------------------------------------

    def _build_ui(self, notice: str | None, keyring_message: str) -> None:
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        header = QHBoxLayout()
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(ICON_SIZE_PX, ICON_SIZE_PX))
        header.addWidget(icon)
        title = QLabel("TonyPi Console")
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        title.setFont(font)
        subtitle = QLabel("Sign in to continue")
        titles = QVBoxLayout()
        titles.setSpacing(0)
        titles.addWidget(title)
        titles.addWidget(subtitle)
        header.addLayout(titles, 1)
        layout.addLayout(header)

        self.notice_label = QLabel(notice or "")
        self.notice_label.setObjectName("loginNotice")
        self.notice_label.setWordWrap(True)
        # Selectable, so the demo's printed password can be copied from here too.
        self.notice_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice_label.setStyleSheet("QLabel#loginNotice { background: #e8f0fe; color: "
                                        "#174ea6; border: 1px solid #aecbfa; "
                                        "border-radius: 4px; padding: 6px; }")
        self.notice_label.setVisible(bool(notice))
        layout.addWidget(self.notice_label)

        form = QFormLayout()
        self.username_edit = QLineEdit()
        self.username_edit.setObjectName("username")
        self.username_edit.setPlaceholderText("user name")
        self.username_edit.textEdited.connect(self._on_username_edited)
        self.username_edit.editingFinished.connect(self._on_username_finished)
        self.password_edit = QLineEdit()
        self.password_edit.setObjectName("password")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("password")
        self.password_edit.textEdited.connect(self._on_password_edited)
        form.addRow("&Username:", self.username_edit)
        form.addRow("&Password:", self.password_edit)
        layout.addLayout(form)

        self.remember_check = QCheckBox("Remember password in the OS keyring")
        self.remember_check.setEnabled(self._keyring_usable)
        layout.addWidget(self.remember_check)
        self.keyring_hint = QLabel(
            f"Not available: {html.escape(_keyring_reason(keyring_message))}. Install and "
            "unlock a Secret Service (for example gnome-keyring or KeePassXC) to keep the "
            "password between sessions.")
        self.keyring_hint.setWordWrap(True)
        self.keyring_hint.setStyleSheet(f"color: {HINT_COLOUR}; margin-left: 22px;")
        self.keyring_hint.setVisible(not self._keyring_usable)
        self.remember_check.setToolTip("" if self._keyring_usable else keyring_message)
        layout.addWidget(self.keyring_hint)

        self.error_label = QLabel()
        self.error_label.setObjectName("loginError")
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)
        layout.addWidget(self.error_label)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.sign_in_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.sign_in_button.setText("Sign in")
        self.sign_in_button.setDefault(True)
        self.buttons.accepted.connect(self._on_sign_in_requested)
        self.buttons.rejected.connect(self.reject)
        self.settings_button = None
        if self._open_settings is not None:
            # A wrong database host must not lock the operator out: the way to fix it is
            # right here, not behind a sign-in it prevents.
            self.settings_button = self.buttons.addButton(
                "Connection settings...", QDialogButtonBox.ButtonRole.ResetRole)
            self.settings_button.setObjectName("connection_settings")
            self.settings_button.setAutoDefault(False)
            self.settings_button.clicked.connect(self._on_settings_clicked)
        layout.addWidget(self.buttons)

    def _restore(self) -> None:
        username = str(self._settings.value(USERNAME_KEY, "") or "")
        self.username_edit.setText(username)
        if username:
            self._fill_from_keyring(username)
            self.password_edit.setFocus()
        else:
            self.username_edit.setFocus()

    # -- keyring -----------------------------------------------------------------------

    def _fill_from_keyring(self, username: str) -> None:
        if not self._keyring_usable or not username:
            return
        stored = get_secret(keyring_name(username))
        if stored:
            self.password_edit.setText(stored)
            self._password_from_keyring = True
            self.remember_check.setChecked(True)

    def _on_username_edited(self, _text: str) -> None:
        # A password filled in for one user must never be sent as another's.
        if self._password_from_keyring:
            self.password_edit.clear()
            self._password_from_keyring = False
            self.remember_check.setChecked(False)

    def _on_username_finished(self) -> None:
        if not self.password_edit.text():
            self._fill_from_keyring(self.username_edit.text().strip())

    def _on_password_edited(self, _text: str) -> None:
        self._password_from_keyring = False

    def _remember(self, username: str, password: str) -> None:
        self._settings.setValue(USERNAME_KEY, username)
        self._settings.sync()
        if not self._keyring_usable:
            return
        try:
            if self.remember_check.isChecked():
                set_secret(keyring_name(username), password)
            else:
                delete_secret(keyring_name(username))  # the user opted out: forget it
        except SecretUnavailable as exc:
            logger.warning("password not remembered: %s", exc)

    # -- signing in --------------------------------------------------------------------

    def _on_sign_in_requested(self) -> None:
        if self._busy or time.monotonic() < self._retry_at:
            return
        username = self.username_edit.text().strip()
        password = self.password_edit.text()
        if not username or not password:
            self._error_text = "Enter your user name and password."
            self._show_error(self._error_text)
            (self.username_edit if not username else self.password_edit).setFocus()
            return
        self._attempt += 1
        self._set_busy(True)
        attempt, signals, authenticate = self._attempt, self._signals, self._authenticate

        def run() -> None:
            user: AuthUser | None = None
            error: BaseException | None = None
            try:
                user = authenticate(username, password)
            except Exception as exc:  # noqa: BLE001 - every failure is shown in the dialog
                error = exc
            signals.attempt_finished.emit(attempt, user, error)

        QThreadPool.globalInstance().start(run)

    def _on_attempt_finished(self, attempt: int, user: AuthUser | None,
                             error: BaseException | None) -> None:
        if attempt != self._attempt:
            return  # superseded, or the dialog was closed meanwhile
        self._set_busy(False)
        if error is None and isinstance(user, AuthUser):
            self._user = user
            self._remember(user.username, self.password_edit.text())
            logger.info("signed in as %s (%s)", user.username, user.role)
            self.signed_in.emit(user)
            self.accept()
            return
        if isinstance(error, AuthError):
            self._failed_attempts += 1
            count = self._failed_attempts
            reason = str(error) or "invalid username or password"
            self._error_text = (f"{reason[:1].upper()}{reason[1:].rstrip('.')} "
                                f"({count} failed attempt{'s' if count > 1 else ''}).")
            self.password_edit.clear()
            self._password_from_keyring = False
            self.password_edit.setFocus()
            delay = retry_delay_s(count, self._retry_delay_base_s)
            if delay > 0:
                self._retry_at = time.monotonic() + delay
                self.sign_in_button.setEnabled(False)
                self._countdown.start()
            self._show_error(self._error_text, self._countdown_suffix())
            return
        logger.warning("sign-in could not be checked: %s", error)
        # Not a failed attempt: the server, not the user, is at fault.
        self._error_text = ("Cannot check the password right now: "
                            f"{str(error or 'no user returned').rstrip('.')}.")
        if self._open_settings is not None:
            self._error_text += " If the server is wrong, fix it in Connection settings."
        self._show_error(self._error_text, self._countdown_suffix())

    def _on_settings_clicked(self) -> None:
        if self._busy or self._open_settings is None:
            return
        if self._open_settings(self):
            self._error_text = ""
            self._show_error("")
            self.notice_label.setText("Connection settings saved: signing in now uses them.")
            self.notice_label.setVisible(True)
            (self.password_edit if self.username_edit.text() else self.username_edit).setFocus()

    def _countdown_suffix(self) -> str:
        remaining = self._retry_at - time.monotonic()
        return f" Try again in {max(1, round(remaining))} s." if remaining > 0 else ""

    def _on_countdown_ticked(self) -> None:
        if time.monotonic() >= self._retry_at:
            self._countdown.stop()
            self.sign_in_button.setEnabled(not self._busy)
        self._show_error(self._error_text, self._countdown_suffix())

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        for widget in (self.username_edit, self.password_edit, self.remember_check):
            widget.setEnabled(not busy and (widget is not self.remember_check
                                            or self._keyring_usable))
        self.sign_in_button.setEnabled(not busy and time.monotonic() >= self._retry_at)
        self.sign_in_button.setText("Signing in..." if busy else "Sign in")
        if self.settings_button is not None:
            self.settings_button.setEnabled(not busy)

    def _show_error(self, text: str, suffix: str = "") -> None:
        self.error_label.setText(f'<span style="color:{self._error_colour}">'
                                 f"{html.escape(text + suffix)}</span>")
        if self.error_label.isHidden() == bool(text):
            self.error_label.setVisible(bool(text))
            self.adjustSize()  # grow to fit the message instead of squeezing the hint

    def error_text(self) -> str:
        """The error shown to the user, as plain text ("" when none is shown)."""
        if self.error_label.isHidden():
            return ""
        return QTextDocumentFragment.fromHtml(self.error_label.text()).toPlainText()

    def done(self, result: int) -> None:
        self._attempt += 1  # an answer still on its way is for a closed dialog: ignored
        self._countdown.stop()
        super().done(result)
