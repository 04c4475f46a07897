"""`tonypi-console`: the operator's desktop application.

`--demo` runs everything in-process (broker, stores, ingest, simulated robots) so a
newcomer sees a live fleet within seconds; without it the console connects to the lab
server of the active connection profile, opening the settings on first start.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, QStandardPaths, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from app.main_window import MainWindow
from app.theme import apply_theme
from services.auth import AuthUser
from services.live.feed import LiveFeed
from services.live.fleet import FleetState
from services.live.pipeline import PipelineMonitor
from services.mqtt_session import MqttSession
from services.records.db import Database
from services.records.errors import RecordsUnavailable
from services.records.users import UserRepository, ensure_demo_account

if TYPE_CHECKING:
    from services.connection_profile import ConnectionProfile

logger = logging.getLogger(__name__)

PROFILES_FILE = "connections.toml"
# paho's default 30 s keepalive leaves a half-open connection (a cable pulled, a server
# frozen) looking "connected" for up to 45 s; 10 s notices it within 15 s.
CONSOLE_KEEPALIVE_S = 10
DIAGNOSIS_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    label: str = ""
    records_url: str | None = None
    records_password: str | None = None
    profile: ConnectionProfile | None = None  # the lab's (for its history store)
    influx_token: str | None = None


def _profile_store():
    from services.connection_profile import ProfileStore

    location = QStandardPaths.StandardLocation.AppConfigLocation
    folder = Path(QStandardPaths.writableLocation(location))
    return ProfileStore(folder / PROFILES_FILE)


def _open_settings_dialog(store, parent=None) -> bool:
    """The settings dialog on `store`: the caller's own copy, so what is saved is what
    the caller reads next (a second store read before the save would still be empty)."""
    from app.settings_dialog import SettingsDialog

    dialog = SettingsDialog(store, parent=parent)
    return dialog.exec() == QDialog.DialogCode.Accepted


def _endpoint_of(store) -> Endpoint | None:
    profile = store.active()
    if profile is None:
        return None
    password = store.secret(profile.name, "mqtt") if profile.mqtt.username else None
    return Endpoint(profile.mqtt.host, profile.mqtt.port, profile.mqtt.tls,
                    profile.mqtt.username, password, label=profile.name,
                    records_url=profile.records_url(),
                    records_password=store.secret(profile.name, "database"),
                    profile=profile,
                    influx_token=(store.secret(profile.name, "influx_token")
                                  if profile.influx.url else None))


class LabConnection:
    """The active profile's endpoint and records database.  The sign-in's "Connection
    settings..." may replace both; sign-in then uses the new ones without a restart."""

    def __init__(self, store) -> None:
        self.store = store
        self.endpoint: Endpoint | None = None
        self.database: Database | None = None

    def first_start(self, parent=None) -> bool:
        """On first start the settings open; False if the operator cancelled them."""
        if not self.store.is_configured() and not _open_settings_dialog(self.store, parent):
            return False
        self.load()
        return self.endpoint is not None

    def load(self) -> None:
        if self.database is not None:
            self.database.dispose()
        self.endpoint = _endpoint_of(self.store)
        records_url = self.endpoint.records_url if self.endpoint else None
        self.database = None if records_url is None else Database(
            records_url, password=self.endpoint.records_password)

    def open_settings(self, parent=None) -> bool:
        # The sign-in disables this button while a check runs: no thread uses the old
        # database when it is disposed.
        if not _open_settings_dialog(self.store, parent):
            return False
        self.load()
        return True

    def authenticate(self, username: str, password: str) -> AuthUser:
        from services.connection_check import records_failure_text

        database, endpoint = self.database, self.endpoint
        if database is None or endpoint is None:
            raise RecordsUnavailable("the connection profile names no PostgreSQL server, "
                                     "where users and alerts live")
        try:
            with database.session() as session:
                return UserRepository(session).authenticate(username, password)
        except RecordsUnavailable as exc:
            raise RecordsUnavailable(records_failure_text(endpoint.profile.postgres,
                                                          exc)) from exc


def _sign_in(authenticate, notice: str | None = None,
             auto: tuple[str, str] | None = None, open_settings=None) -> AuthUser | None:
    """The console opens with a sign-in; `auto` signs in unattended (demo smoke runs)."""
    if auto is not None:
        return authenticate(*auto)
    from app.login_dialog import LoginDialog

    dialog = LoginDialog(authenticate, QSettings(), notice=notice, open_settings=open_settings)
    return dialog.user if dialog.exec() == QDialog.DialogCode.Accepted else None


def _database_authenticator(database: Database):
    def authenticate(username: str, password: str) -> AuthUser:
        with database.session() as session:
            return UserRepository(session).authenticate(username, password)
    return authenticate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tonypi-console", description=__doc__)
    parser.add_argument("--demo", action="store_true",
                        help="run an embedded broker, stores, ingest and simulated robots")
    parser.add_argument("--robots", type=int, default=4, help="simulated robots in --demo")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--run-for", type=float, metavar="S",
                        help="close after S seconds (demos, screenshots, smoke tests)")
    parser.add_argument("--screenshot", type=Path, metavar="PNG",
                        help="with --run-for: save a screenshot of the window just before closing")
    parser.add_argument("--color-scheme", choices=("system", "light", "dark"),
                        default="system", help="light or dark palette (default: "
                        "$TONYPI_COLOR_SCHEME, else the system's; under Xvfb there is none, "
                        "so light)")
    parser.add_argument("--open", default="", metavar="ROBOTS",
                        help="comma-separated robot ids whose live page opens at start")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("TonyPi Console")
    app.setOrganizationName("TonyPi")
    # "system" defers to $TONYPI_COLOR_SCHEME, then the desktop (app/theme.py).
    apply_theme(app, None if args.color_scheme == "system" else args.color_scheme)

    stack = None
    if args.demo:
        from app.demo_stack import DemoStack, demo_robots

        stack = DemoStack(robots=demo_robots(max(args.robots, 3)))
        stack.start()
        endpoint = Endpoint(stack.mqtt_host, stack.mqtt_port, label="demo",
                            records_url=stack.records_url)
        database = stack.database
        demo_login = ensure_demo_account(database)
        logger.warning("demo account: user %r, password %r", *demo_login)
        notice = (f"Demo account: user <b>{demo_login[0]}</b>, "
                  f"password <b>{demo_login[1]}</b> (also printed in the terminal).")
        user = _sign_in(_database_authenticator(database), notice,
                        auto=demo_login if args.run_for else None)
    else:
        lab = LabConnection(_profile_store())
        if not lab.first_start():
            return 1
        user = _sign_in(lab.authenticate, open_settings=lab.open_settings)
        endpoint, database = lab.endpoint, lab.database
    if user is None:
        if stack is not None:
            stack.stop()
        elif database is not None:
            database.dispose()
        return 1

    session = MqttSession(endpoint.host, endpoint.port,
                          client_id=f"tonypi-console-{uuid.uuid4().hex[:8]}",
                          username=endpoint.username, password=endpoint.password,
                          tls=endpoint.tls, keepalive_s=CONSOLE_KEEPALIVE_S)
    fleet = FleetState()
    feed = LiveFeed(session, fleet, diagnose=_broker_diagnosis(endpoint))
    pipeline = PipelineMonitor()
    pipeline.attach(session)
    window = MainWindow(fleet, feed, title_suffix=f"{endpoint.label} - {user.username} "
                                                  f"({user.role})",
                        open_settings=None if args.demo else lambda: _on_settings(window),
                        pipeline=pipeline)
    window.fleet_view.set_broker(f"{endpoint.host}:{endpoint.port}")  # for the empty state
    from app.alerts_page import install_alerts_page

    history_store = _open_history(stack, endpoint, window)
    install_alerts_page(window, database=database, session=session, user=user,
                        history_store=history_store)
    _install_record_pages(window, database)
    if history_store is not None:
        window.set_history_store(history_store)
        from app.history_page import install_history_page
        from app.reports_page import install_reports_page

        install_history_page(window, history_store, database)
        install_reports_page(window, history_store=history_store, database=database, user=user)
    feed.start()
    session.start()
    window.show()
    if args.open:
        QTimer.singleShot(1500, lambda: window.open_live_page(args.open.split(",")))
    if args.run_for:
        QTimer.singleShot(int(args.run_for * 1000), lambda: _finish(window, args.screenshot))
    # Ctrl+C in the terminal closes the window like the Quit action does.
    previous_sigint = signal.signal(signal.SIGINT, lambda *_: window.close())
    keepalive = QTimer()
    keepalive.start(250)  # lets Python see signals while Qt's loop runs
    keepalive.timeout.connect(lambda: None)
    try:
        return app.exec()
    finally:
        signal.signal(signal.SIGINT, previous_sigint)
        for page in (getattr(window, "jobs_page", None), getattr(window, "logs_page", None)):
            if page is not None:
                page.stop()
        for name in ("history_page", "reports_page", "live_history"):
            page = getattr(window, name, None)
            if page is not None:
                page.shutdown()
        feed.stop()
        pipeline.detach()
        session.stop()
        if stack is not None:
            stack.stop()
        elif history_store is not None:
            history_store.close()
        if stack is None and database is not None:
            database.dispose()


def _install_record_pages(window: MainWindow, database: Database) -> None:
    from app.fleet_records import install_fleet_records
    from app.jobs_page import install_jobs_page
    from app.logs_page import install_logs_page

    install_jobs_page(window, database=database)
    install_logs_page(window, database=database)
    install_fleet_records(window, database)


def _open_history(stack, endpoint: Endpoint, window: MainWindow):
    """The demo's SQL history, or the lab's store as its profile names it (InfluxDB, else
    the SQL history next to the records).  Without one the console runs on, without the
    History and Reports tabs, and says why."""
    if stack is not None:
        return stack.history
    from services.history.factory import HistoryNotConfigured, open_profile_history

    try:
        return open_profile_history(endpoint.profile, influx_token=endpoint.influx_token,
                                    records_password=endpoint.records_password)
    except (HistoryNotConfigured, ValueError) as exc:
        logger.warning("no history store: %s", exc)
        text = f"History and reports are not available: {exc}"
        QTimer.singleShot(0, lambda: QMessageBox.warning(window, "TonyPi Console", text))
        return None


def _finish(window: MainWindow, screenshot: Path | None) -> None:
    if screenshot is not None:
        window.grab().save(str(screenshot))
        logger.info("screenshot saved to %s", screenshot)
    window.close()


def _broker_diagnosis(endpoint: Endpoint):
    """A one-off connection the way the session makes it, to say why the broker is away
    (paho's own reason is "Unspecified error" for a refused login and a cut alike)."""
    from services.connection_check import check_mqtt
    from services.connection_profile import MqttProfile

    profile = MqttProfile(endpoint.host, endpoint.port, endpoint.tls, endpoint.username)

    def diagnose() -> tuple[bool, str]:
        result = check_mqtt(profile, endpoint.password, DIAGNOSIS_TIMEOUT_S)
        return result.ok, result.message
    return diagnose


def _on_settings(window: MainWindow) -> None:
    if _open_settings_dialog(_profile_store(), window):
        QMessageBox.information(window, "Connection settings",
                                "Saved. Restart the console to connect with the new settings.")


if __name__ == "__main__":
    raise SystemExit(main())
