"""Connection settings: profiles for MQTT, InfluxDB and PostgreSQL, with a live test.

The dialog edits drafts of every profile and writes nothing until Save: then the
profile file (no secrets) and the keyring (secrets only).  Password fields never show a
stored secret: a placeholder says where it is.  "Test connection" runs the injected
check on Qt's global thread pool and reports back through a queued signal, so a dead
host never freezes the window.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from services import connection_profile as profiles
from services.connection_check import CheckResult, check_influx, check_mqtt, check_postgres
from services.connection_profile import ConnectionProfile, ProfileError, ProfileStore
from services.secrets import SECRET_ENV, SecretUnavailable
from widgets.palette import ERROR_TEXT_COLOURS, OK_TEXT_COLOURS, is_dark

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 5.0
# (light palette, dark palette): the dark ones keep contrast on a dark window.
PENDING_COLOUR = "#7a7a7a"
PORT_FIELD_WIDTH_PX = 110
MIN_WIDTH_PX = 680
DEFAULT_PROFILE_NAME = "lab"
# service (profile section) -> the kind of secret it needs
SERVICES = {"mqtt": "mqtt", "influx": "influx_token", "postgres": "database"}
Check = Callable[[Any, str | None, float], CheckResult]


@dataclass
class _Draft:
    origin: str | None  # its name in the store when the dialog opened; None if new
    values: dict[str, Any]
    typed_secrets: dict[str, str] = field(default_factory=dict)  # kind -> typed this time


class _CheckSignals(QObject):
    # service, request number, result; emitted on a pool thread, delivered queued.
    check_finished = Signal(str, int, object)


class SettingsDialog(QDialog):
    profile_saved = Signal(str)

    def __init__(self, store: ProfileStore, parent: QWidget | None = None, *,
                 checks: Mapping[str, Check] | None = None,
                 check_timeout_s: float = CHECK_TIMEOUT_S) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connection settings")
        self.setMinimumWidth(MIN_WIDTH_PX)
        self._store = store
        self._checks = dict(checks or {"mqtt": check_mqtt, "influx": check_influx,
                                       "postgres": check_postgres})
        self._check_timeout_s = check_timeout_s
        self._keyring_usable, self._keyring_message = profiles.keyring_status()
        self._drafts: dict[str, _Draft] = {
            p.name: _Draft(p.name, profiles.flat_values(p)) for p in store.profiles()}
        if not self._drafts:
            self._drafts[DEFAULT_PROFILE_NAME] = _Draft(None, profiles.flat_values(None))
        self._deleted_origins: list[str] = []
        # Which secrets exist, looked up once: the dialog never holds a stored secret.
        self._has_stored = {(name, kind): self._keyring_usable and
                            bool(profiles.stored_secret(name, kind))
                            for name in self._drafts for kind in SECRET_ENV}
        self._check_seq = dict.fromkeys(SERVICES, 0)
        self._signals = _CheckSignals(self)
        self._signals.check_finished.connect(self._on_check_finished)
        self._fields: dict[str, QWidget] = {}
        self._secret_edits: dict[str, QLineEdit] = {}
        self._test_buttons: dict[str, QPushButton] = {}
        self._result_labels: dict[str, QLabel] = {}
        self._current = ""
        dark = is_dark(self)
        self._ok_colour, self._error_colour = OK_TEXT_COLOURS[dark], ERROR_TEXT_COLOURS[dark]
        self._build_ui()
        start = store.active_name if store.active_name in self._drafts else next(iter(self._drafts))
        self._reload_selector(start)

    # -- layout ------------------------------------------------------------------------

    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        headline, _, rest = self._keyring_message.partition(": ")
        self.banner = QLabel(f"<b>{html.escape(headline)}</b>: {html.escape(rest)} "
                             "<i>Save</i> stores every other setting; passwords typed here are "
                             "used only to test connections.")
        self.banner.setObjectName("keyringBanner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("QLabel#keyringBanner { background: #fff4ce; color: #3d2e00;"
                                  " border: 1px solid #e0b400; border-radius: 4px;"
                                  " padding: 8px; }")
        self.banner.setVisible(not self._keyring_usable)
        layout.addWidget(self.banner)

        row = QHBoxLayout()
        row.addWidget(QLabel("Profile:"))
        self.selector = QComboBox()
        self.selector.setMinimumWidth(220)
        self.selector.currentTextChanged.connect(self._on_profile_selected)
        row.addWidget(self.selector, 1)
        for text, handler in (("Add…", self._on_add_clicked), ("Rename…", self._on_rename_clicked),
                              ("Delete", self.delete_profile)):
            button = QPushButton(text)
            button.clicked.connect(handler)
            row.addWidget(button)
            if text == "Delete":
                self.delete_button = button
        layout.addLayout(row)

        form = self._group("mqtt", "MQTT broker", [
            ("Host", "mqtt.host", self._line("e.g. lab-server.local")),
            ("Port", "mqtt.port", self._port()),
            ("TLS", "mqtt.tls", QCheckBox("Encrypt the connection (TLS)")),
            ("Username", "mqtt.username", self._line("empty: anonymous")),
        ])
        layout.addWidget(form)
        layout.addWidget(self._group("influx", "InfluxDB (history)", [
            ("URL", "influx.url", self._line("http://lab-server.local:8086 (empty: not used)")),
            ("Organisation", "influx.org", self._line("")),
            ("Bucket", "influx.bucket", self._line("")),
        ]))
        layout.addWidget(self._group("postgres", "PostgreSQL (records)", [
            ("Host", "postgres.host", self._line("e.g. lab-server.local (empty: not used)")),
            ("Port", "postgres.port", self._port()),
            ("Database", "postgres.database", self._line("")),
            ("User", "postgres.user", self._line("empty: your login name")),
        ]))

        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {self._error_colour}; font-weight: bold;")
        self.error_label.hide()
        layout.addWidget(self.error_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save |
                                   QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        if not self._keyring_usable:
            self.save_button.setText("Save without secrets")
        buttons.accepted.connect(self._on_save_clicked)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _line(self, placeholder: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setPlaceholderText(placeholder)
        return edit

    def _port(self) -> QSpinBox:
        box = QSpinBox()
        box.setRange(1, 65535)
        box.setMaximumWidth(PORT_FIELD_WIDTH_PX)
        return box

    def _group(self, service: str, title: str, rows: list[tuple[str, str, QWidget]]) -> QGroupBox:
        kind = SERVICES[service]
        box = QGroupBox(title)
        form = QFormLayout(box)
        for label, key, widget in rows:
            widget.setObjectName(key)
            self._fields[key] = widget
            form.addRow(label, widget)
        secret = QLineEdit()
        secret.setObjectName(f"{service}.secret")
        secret.setEchoMode(QLineEdit.EchoMode.Password)
        self._secret_edits[kind] = secret
        form.addRow("Token" if service == "influx" else "Password", secret)
        test = QPushButton("Test connection")
        test.clicked.connect(lambda: self.test_connection(service))
        result = QLabel()
        result.setWordWrap(True)
        result.setObjectName(f"{service}.result")
        # Room for a two-line failure from the start, so results rarely resize the dialog.
        result.setMinimumHeight(2 * result.fontMetrics().lineSpacing() + 2)
        self._test_buttons[service] = test
        self._result_labels[service] = result
        # The button in the label column gives every group the same column width, and a
        # result in the field column wraps (QFormLayout honours height-for-width).
        form.addRow(test, result)
        return box

    # -- profiles ----------------------------------------------------------------------

    @property
    def current_profile_name(self) -> str:
        return self._current

    def _reload_selector(self, select: str) -> None:
        self.selector.blockSignals(True)
        self.selector.clear()
        self.selector.addItems(list(self._drafts))
        self.selector.blockSignals(False)
        self._current = ""
        self.selector.setCurrentText(select)
        self._on_profile_selected(select)
        self.delete_button.setEnabled(len(self._drafts) > 1)

    def _on_profile_selected(self, name: str) -> None:
        if not name or name == self._current or name not in self._drafts:
            return
        self._capture()
        self._current = name
        draft = self._drafts[name]
        for key, widget in self._fields.items():
            self._set_value(widget, draft.values[key])
        for kind, edit in self._secret_edits.items():
            edit.setText(draft.typed_secrets.get(kind, ""))
            edit.setPlaceholderText(self._secret_placeholder(draft, kind))
        for service in SERVICES:  # results belong to the profile they were run for
            self._check_seq[service] += 1
            self._test_buttons[service].setEnabled(True)
            self._result_labels[service].clear()
        self._clear_error()

    def _secret_placeholder(self, draft: _Draft, kind: str) -> str:
        env = SECRET_ENV[kind]
        if draft.origin and self._has_stored.get((draft.origin, kind)):
            return "(stored in keyring)"
        if not self._keyring_usable:
            return f"not saved without a keyring; or set {env}"
        return f"(from {env})" if os.environ.get(env) else "not set"

    def _capture(self) -> None:
        draft = self._drafts.get(self._current)
        if draft is None:
            return
        draft.values = {key: self._value(widget) for key, widget in self._fields.items()}
        draft.typed_secrets = {kind: edit.text() for kind, edit in self._secret_edits.items()
                               if edit.text()}

    @staticmethod
    def _value(widget: QWidget) -> Any:
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QSpinBox):
            return widget.value()
        return widget.text()

    @staticmethod
    def _set_value(widget: QWidget, value: Any) -> None:
        if isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QSpinBox):
            widget.setValue(int(value))
        else:
            widget.setText(str(value))

    def add_profile(self, name: str) -> bool:
        name = name.strip()
        if not self._name_is_free(name):
            return False
        self._capture()
        # A new profile starts as a copy of the shown one: labs usually differ in one host.
        self._drafts[name] = _Draft(None, dict(self._drafts[self._current].values))
        self._reload_selector(name)
        return True

    def rename_profile(self, new_name: str) -> bool:
        new_name = new_name.strip()
        if new_name == self._current or not self._name_is_free(new_name):
            return new_name == self._current
        self._capture()
        self._drafts = {(new_name if name == self._current else name): draft
                        for name, draft in self._drafts.items()}
        self._reload_selector(new_name)
        return True

    def delete_profile(self) -> None:
        if len(self._drafts) <= 1:
            return
        draft = self._drafts.pop(self._current)
        if draft.origin:
            self._deleted_origins.append(draft.origin)
        self._current = ""
        self._reload_selector(next(iter(self._drafts)))

    def _name_is_free(self, name: str) -> bool:
        try:
            ConnectionProfile(name, profiles.MqttProfile("localhost"))
        except ProfileError as exc:
            self._show_error(str(exc), "name")
            return False
        if name in self._drafts:
            self._show_error(f"a profile named {name!r} exists already", "name")
            return False
        return True

    def _on_add_clicked(self) -> None:
        name, ok = QInputDialog.getText(self, "Add profile", "Name of the new profile:")
        if ok:
            self.add_profile(name)

    def _on_rename_clicked(self) -> None:
        name, ok = QInputDialog.getText(self, "Rename profile", "New name:", text=self._current)
        if ok:
            self.rename_profile(name)

    # -- test connection ---------------------------------------------------------------

    def test_connection(self, service: str) -> None:
        """Run the service's check off the GUI thread; the result label shows the outcome."""
        self._capture()
        draft = self._drafts[self._current]
        kind = SERVICES[service]
        try:
            target = profiles.section_from_flat(service, draft.values)
        except ProfileError as exc:
            self._show_result(service, CheckResult(False, str(exc), 0.0))
            return
        self._check_seq[service] += 1
        seq = self._check_seq[service]
        typed, origin = draft.typed_secrets.get(kind), draft.origin
        check, timeout_s, signals = self._checks[service], self._check_timeout_s, self._signals

        def run() -> None:  # on a pool thread: no widget access here
            try:
                # The keyring may be a slow D-Bus call: look it up here, not in the GUI.
                secret = typed or (profiles.resolve_secret(origin, kind) if origin
                                   else os.environ.get(SECRET_ENV[kind]))
                result = check(target, secret, timeout_s)
            except Exception as exc:  # noqa: BLE001 - an injected check may raise
                result = CheckResult(False, f"{type(exc).__name__}: {exc}", 0.0)
            try:
                signals.check_finished.emit(service, seq, result)
            except RuntimeError:  # the dialog is gone; nobody is waiting for the answer
                logger.debug("connection check finished after the dialog closed")

        self._test_buttons[service].setEnabled(False)
        label = self._result_labels[service]
        label.setStyleSheet(f"color: {PENDING_COLOUR};")
        label.setText(f"Testing… (up to {timeout_s:g} s)")
        QThreadPool.globalInstance().start(run)

    def _on_check_finished(self, service: str, seq: int, result: CheckResult) -> None:
        if seq != self._check_seq[service]:
            return  # an older request, or one for a profile no longer shown
        self._test_buttons[service].setEnabled(True)
        self._show_result(service, result)

    def _show_result(self, service: str, result: CheckResult) -> None:
        label = self._result_labels[service]
        label.setStyleSheet("")
        if result.ok:
            ms = result.elapsed_s * 1000
            took = f"{max(1, round(ms))} ms" if ms < 1000 else f"{result.elapsed_s:.1f} s"
            label.setText(f'<span style="color:{self._ok_colour}"><b>✔ Connected in {took}'
                          f"</b></span> · {html.escape(result.message)}")
        else:
            label.setText(f'<span style="color:{self._error_colour}"><b>✘</b> '
                          f"{html.escape(result.message)}</span>")
        label.setToolTip(result.message)
        self._grow_to_fit()

    def _grow_to_fit(self) -> None:
        # A longer message needs more height; grow (never shrink) so nothing is clipped.
        layout = self.layout()
        layout.activate()
        needed = layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth() \
            else layout.totalSizeHint().height()
        if needed > self.height():
            self.resize(self.width(), needed)

    def result_text(self, service: str) -> str:
        """The result label as plain text (for tests and accessibility)."""
        return self._result_labels[service].text()

    # -- save --------------------------------------------------------------------------

    def save(self) -> bool:
        """Validate every profile, write the file, then the secrets. False if anything
        failed; the error is shown in the dialog."""
        self._capture()
        self._clear_error()
        built = []
        for name, draft in self._drafts.items():
            try:
                built.append(profiles.profile_from_flat(name, draft.values))
            except ProfileError as exc:
                self._reload_selector(name)
                self._show_error(f"Profile {name!r}: {exc}", exc.field)
                return False
        try:
            # The file first: it holds no secret, and a keyring failure must not cost
            # the operator the rest of the settings.
            self._store.replace_all(built, self._current)
            self._store.save()
        except (OSError, ProfileError) as exc:
            self._show_error(f"Cannot write {self._store.path}: {exc}")
            return False
        if self._keyring_usable:
            try:
                self._save_secrets()
            except SecretUnavailable as exc:
                self._show_error(f"Settings saved, but the secrets were not: {exc}")
                return False
        self.profile_saved.emit(self._current)
        return True

    def _save_secrets(self) -> None:
        for origin in self._deleted_origins:
            profiles.forget_secrets(origin)
        self._deleted_origins.clear()
        for name, draft in self._drafts.items():
            if draft.origin and draft.origin != name:
                profiles.move_secrets(draft.origin, name)
                for kind in SECRET_ENV:
                    self._has_stored[(name, kind)] = self._has_stored.pop((draft.origin, kind),
                                                                          False)
            for kind, value in draft.typed_secrets.items():
                profiles.store_secret(name, kind, value)
                self._has_stored[(name, kind)] = True
            draft.origin, draft.typed_secrets = name, {}

    def _on_save_clicked(self) -> None:
        if self.save():
            self.accept()

    def _show_error(self, message: str, field_key: str | None = None) -> None:
        self.error_label.setText(message)
        self.error_label.show()
        widget = self.selector if field_key == "name" else self._fields.get(field_key or "")
        if widget is not None:
            widget.setStyleSheet(f"border: 2px solid {self._error_colour};")
            widget.setFocus()

    def _clear_error(self) -> None:
        self.error_label.hide()
        self.selector.setStyleSheet("")
        for widget in self._fields.values():
            widget.setStyleSheet("")
