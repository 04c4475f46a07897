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
from services.mqtt_session import MqttSession
from services.records.db import Database
from services.records.errors import RecordsUnavailable
from services.records.users import UserRepository, ensure_demo_account

if TYPE_CHECKING:
    from services.connection_profile import ConnectionProfile

logger = logging.getLogger(__name__)

PROFILES_FILE = "connections.toml"


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


def _open_settings_dialog(parent=None) -> bool:
    from app.settings_dialog import SettingsDialog

    dialog = SettingsDialog(_profile_store(), parent=parent)
    return dialog.exec() == QDialog.DialogCode.Accepted


def _lab_endpoint() -> Endpoint | None:
    store = _profile_store()
    if not store.is_configured() and not _open_settings_dialog():
        return None
    profile = store.active()
    password = store.secret(profile.name, "mqtt") if profile.mqtt.username else None
    return Endpoint(profile.mqtt.host, profile.mqtt.port, profile.mqtt.tls,
                    profile.mqtt.username, password, label=profile.name,
                    records_url=profile.records_url(),
                    records_password=store.secret(profile.name, "database"),
                    profile=profile,
                    influx_token=(store.secret(profile.name, "influx_token")
                                  if profile.influx.url else None))


def _sign_in(database: Database, notice: str | None = None,
             auto: tuple[str, str] | None = None) -> AuthUser | None:
    """The console opens with a sign-in; `auto` signs in unattended (demo smoke runs)."""
    def authenticate(username: str, password: str) -> AuthUser:
        with database.session() as session:
            return UserRepository(session).authenticate(username, password)

    if auto is not None:
        return authenticate(*auto)
    from app.login_dialog import LoginDialog

    dialog = LoginDialog(authenticate, QSettings(), notice=notice)
    return dialog.user if dialog.exec() == QDialog.DialogCode.Accepted else None


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
    apply_theme(app)

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
        user = _sign_in(database, notice, auto=demo_login if args.run_for else None)
    else:
        endpoint = _lab_endpoint()
        if endpoint is None:
            return 1
        if endpoint.records_url is None:
            QMessageBox.critical(None, "TonyPi Console", "The connection profile names no "
                                 "PostgreSQL server; users and alerts live there.")
            return 1
        database = Database(endpoint.records_url, password=endpoint.records_password)
        try:
            user = _sign_in(database)
        except RecordsUnavailable as exc:
            QMessageBox.critical(None, "TonyPi Console", f"Cannot reach the records: {exc}")
            return 1
    if user is None:
        if stack is not None:
            stack.stop()
        return 1

    session = MqttSession(endpoint.host, endpoint.port,
                          client_id=f"tonypi-console-{uuid.uuid4().hex[:8]}",
                          username=endpoint.username, password=endpoint.password,
                          tls=endpoint.tls)
    fleet = FleetState()
    feed = LiveFeed(session, fleet)
    window = MainWindow(fleet, feed, title_suffix=f"{endpoint.label} - {user.username} "
                                                  f"({user.role})",
                        open_settings=None if args.demo else lambda: _on_settings(window))
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
    signal.signal(signal.SIGINT, lambda *_: window.close())
    keepalive = QTimer()
    keepalive.start(250)  # lets Python see signals while Qt's loop runs
    keepalive.timeout.connect(lambda: None)
    try:
        return app.exec()
    finally:
        for page in (getattr(window, "jobs_page", None), getattr(window, "logs_page", None)):
            if page is not None:
                page.stop()
        for name in ("history_page", "reports_page", "live_history"):
            page = getattr(window, name, None)
            if page is not None:
                page.shutdown()
        feed.stop()
        session.stop()
        if stack is not None:
            stack.stop()
        elif history_store is not None:
            history_store.close()
        if stack is None and database is not None:
            database.dispose()


def _install_record_pages(window: MainWindow, database: Database) -> None:
    from app.jobs_page import install_jobs_page
    from app.logs_page import install_logs_page

    install_jobs_page(window, database=database)
    install_logs_page(window, database=database)


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


def _on_settings(window: MainWindow) -> None:
    if _open_settings_dialog(window):
        QMessageBox.information(window, "Connection settings",
                                "Saved. Restart the console to connect with the new settings.")


if __name__ == "__main__":
    raise SystemExit(main())
