"""The console's Alerts page: the table, acknowledge/resolve through AlertService, the
details pane, desktop notifications, and the counts in the tab title and status bar.

Everything that touches the database runs on one worker thread; results come back to
the GUI thread through a queued signal, so a slow or unreachable server never freezes
the window.  The service decides (roles, who was first); the page shows its answer.

    page = install_alerts_page(window, database=db, session=session, user=user,
                               history_store=history)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSettings, QTimer, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QLabel,
    QSystemTrayIcon,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.alert_feed import RELOADED, AlertBatch, AlertFeed, alert_row
from app.alerts_data import (
    LOADING_TEXT,
    counts_text,
    describe_event,
    load_series,
    status_text,
    unit_of,
)
from app.alerts_worker import PageWorker
from app.theme import app_icon
from services.alerts.service import AlertService
from services.auth import AuthUser, PermissionDenied
from services.vocabulary import CRITICAL, SEVERITIES_WORST_FIRST
from widgets.alert_details import AlertEventRow
from widgets.alert_model import (
    AlertRow,
    AlertTableModel,
    format_time,
    severity_icon,
)
from widgets.alert_view import RESOLVE_CAUSE, AlertView
from widgets.palette import SEVERITY_COLOURS

logger = logging.getLogger(__name__)

FLEET_PUSH_INTERVAL_MS = 2000  # robots that appear later get their count within 2 s
NOTIFICATION_SHOWN_MS = 15_000
SOUND_SETTING = "alerts/sound_on_critical"
OUT_OF_DATE_TEXT = "Alerts may be out of date"
# Notice causes: a banner goes away when its cause does (see _settle_notices).
RELOAD_CAUSE, ACKNOWLEDGE_CAUSE = "reload", "acknowledge"  # and the view's RESOLVE_CAUSE


class AlertsPage(QWidget):
    counts_changed = Signal(dict)  # {severity: unacknowledged count}
    status_changed = Signal(str, bool)  # status-bar text, a critical one is unacknowledged
    critical_alert_raised = Signal(object)  # AlertRow, a critical alert new to this console

    def __init__(self, database, session, user: AuthUser, *, history_store=None,
                 publish: Callable[[str, bytes], None] | None = None, fleet=None,
                 settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.user = user
        self._history = history_store
        self._fleet = fleet
        self._settings = settings or QSettings()
        if publish is None:
            def publish(topic: str, payload: bytes) -> None:
                session.publish(topic, payload, qos=1)
        self.service = AlertService(database, publish)
        self.model = AlertTableModel(self)
        self.view = AlertView(self.model)
        self.view.acknowledge_requested.connect(self._on_acknowledge_requested)
        self.view.resolve_requested.connect(self._on_resolve_requested)
        self.view.details_requested.connect(self._on_details_requested)
        self.feed = AlertFeed(session, self.service, self._on_alerts_arrived,
                              on_reloaded=self._on_reloaded,
                              on_reload_failed=self._on_reload_failed, parent=self)
        self._worker = PageWorker("alerts-page", self)
        self._worker.work_failed.connect(self._on_work_failed)
        self._notified: set[int] = set()
        self._loaded_once = False
        self._reload_failed = False
        self._status = LOADING_TEXT
        self._notice_alerts: set[int] = set()  # the alerts an action notice is about
        self._details_wanted: int | None = None  # written on the GUI thread only
        self._counts: dict[str, int] = {}
        self._pushed: dict[str, int] = {}
        self.notifications: list[tuple[str, str]] = []  # (title, text) shown, newest last
        self._tray: QSystemTrayIcon | None = None
        self._build()
        self._fleet_timer = QTimer(self)
        self._fleet_timer.setInterval(FLEET_PUSH_INTERVAL_MS)
        self._fleet_timer.timeout.connect(self._push_fleet_counts)

    def _build(self) -> None:
        toolbar = QToolBar()
        toolbar.setMovable(False)
        who = QLabel(f"Signed in as <b>{self.user.username}</b> ({self.user.role})")
        toolbar.addWidget(who)
        toolbar.addSeparator()
        self.reload_action = QAction("Reload", self)
        self.reload_action.setToolTip("Read the alerts again from the records database")
        self.reload_action.setShortcut(QKeySequence.StandardKey.Refresh)
        self.reload_action.triggered.connect(self.feed.reload)
        toolbar.addAction(self.reload_action)
        toolbar.addSeparator()
        self.sound_checkbox = QCheckBox("Sound on new critical alerts")
        self.sound_checkbox.setToolTip("Beep as well as the desktop notification")
        self.sound_checkbox.setChecked(self._settings.value(SOUND_SETTING, False, type=bool))
        self.sound_checkbox.toggled.connect(
            lambda on: self._settings.setValue(SOUND_SETTING, bool(on)))
        toolbar.addWidget(self.sound_checkbox)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 6)
        layout.addWidget(toolbar)
        layout.addWidget(self.view, 1)

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self.feed.start()
        self._fleet_timer.start()

    def shutdown(self) -> None:
        self._fleet_timer.stop()
        self.feed.stop()
        self._worker.shutdown()
        if self._tray is not None:
            self._tray.hide()

    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    def status_text(self) -> str:
        return self._status

    # -- data from the feed ------------------------------------------------------------
    def _on_alerts_arrived(self, batch: AlertBatch) -> None:
        inserted = {row.id for row in self._upsert(row for row, _ in batch)}
        for row, event in batch:
            fresh = (event in ("raised", "escalated")
                     or (event == RELOADED and self._loaded_once and row.id in inserted))
            if (fresh and row.severity == "critical" and not row.acknowledged
                    and not row.resolved and row.id not in self._notified):
                self._notify_critical(row)
        self._refresh_counts()

    def _on_reloaded(self) -> None:
        # From now on a reloaded alert this console has not seen is news (raised while
        # the broker was unreachable); the first load is only the past.
        self._loaded_once = True
        self._reload_failed = False
        self.view.clear_notice(RELOAD_CAUSE)  # the database answered again
        self._refresh_counts()  # an empty answer is an answer: no more "loading"

    def _on_reload_failed(self, reason: str) -> None:
        self._reload_failed = True
        self.view.show_notice(f"{OUT_OF_DATE_TEXT}: {reason}", "warning", RELOAD_CAUSE)
        self._refresh_counts()

    def _upsert(self, rows) -> list[AlertRow]:
        """Into the model; the details pane reloads the history of the alert it shows
        when that alert changed (an acknowledgement's comment, a resolve's reason)."""
        shown = self.view.details.alert()
        before = None if shown is None else self.model.alert(shown.id)
        inserted = self.model.upsert(rows)
        if shown is not None and self.model.alert(shown.id) != before:
            self._on_details_requested(shown.id)
        self._settle_notices()
        return inserted

    def _settle_notices(self) -> None:
        """Hide an action's notice once every alert it was about is done anyway (someone
        else acknowledged or resolved them)."""
        cause = self.view.notice_cause()
        if cause not in (ACKNOWLEDGE_CAUSE, RESOLVE_CAUSE) or not self._notice_alerts:
            return
        rows = [self.model.alert(i) for i in self._notice_alerts]
        done = all(row is not None and (row.acknowledged if cause == ACKNOWLEDGE_CAUSE
                                        else row.resolved) for row in rows)
        if done:
            self.view.clear_notice(cause)

    def _show_action_notice(self, text: str, level: str, cause: str,
                            alert_ids: set[int]) -> None:
        self._notice_alerts = set(alert_ids)
        self.view.show_notice(text, level, cause)

    def _refresh_counts(self) -> None:
        counts = self.model.counts_unacknowledged()
        if counts != self._counts:
            self._counts = counts
            self.counts_changed.emit(dict(counts))
            self._push_fleet_counts()
        status = status_text(counts, self.model.open_count(), loaded=self._loaded_once,
                             failed=self._reload_failed)
        if status != self._status:
            self._status = status
            self.status_changed.emit(status, bool(counts.get("critical")))

    def _push_fleet_counts(self) -> None:
        if self._fleet is None:
            return
        by_robot = self.model.unacknowledged_by_robot()
        for robot in self._fleet.robot_ids():
            count = by_robot.get(robot, 0)
            if self._pushed.get(robot) != count:
                self._fleet.set_unacknowledged_alerts(robot, count)
                self._pushed[robot] = count

    def _notify_critical(self, row: AlertRow) -> None:
        self._notified.add(row.id)
        title = f"Critical alert: {row.robot_id}"
        text = f"{row.title}\n{row.message}".strip()
        self.notifications.append((title, text))
        if QSystemTrayIcon.isSystemTrayAvailable():
            if self._tray is None:
                self._tray = QSystemTrayIcon(app_icon(), self)
                self._tray.setToolTip("TonyPi Console alerts")
                self._tray.messageClicked.connect(self._on_tray_message_clicked)
                self._tray.show()
            self._tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Critical,
                                   NOTIFICATION_SHOWN_MS)
        else:
            logger.info("no system tray here; critical alert %d shown in the window", row.id)
        if self.sound_checkbox.isChecked():
            QApplication.beep()
        self.critical_alert_raised.emit(row)

    def _on_tray_message_clicked(self) -> None:
        window = self.window()
        window.showNormal()
        window.raise_()
        window.activateWindow()

    def _on_work_failed(self, text: str, cause: str) -> None:
        self.view.show_notice(text, "error", cause)

    # -- operator gestures -----------------------------------------------------------
    def _on_acknowledge_requested(self, alert_ids: list[int], comment: str) -> None:
        user, service = self.user, self.service

        def work() -> list[Any]:
            outcomes: list[Any] = []
            for alert_id in alert_ids:  # one by one: a lost race must not stop the rest
                try:
                    outcomes.append(service.acknowledge(user, alert_id, comment or None))
                except PermissionDenied:
                    raise
                except Exception as exc:
                    outcomes.append((alert_id, exc))
            return outcomes

        self._worker.run(work, self._on_acknowledged, "Could not acknowledge", ACKNOWLEDGE_CAUSE)

    def _on_acknowledged(self, outcomes: list[Any]) -> None:
        lost, failed = [], []
        rows, failed_ids = [], set()
        for outcome in outcomes:
            if isinstance(outcome, tuple):
                failed.append(f"alert #{outcome[0]}: {outcome[1]}")
                failed_ids.add(outcome[0])
                continue
            rows.append(alert_row(outcome.alert))
            if not outcome.acknowledged and outcome.by != self.user.username:
                lost.append(f"alert #{outcome.alert.id} ({outcome.alert.title}) was already "
                            f"acknowledged by {outcome.by} at {format_time(outcome.at)}")
        if failed:
            self._show_action_notice("Could not acknowledge " + "; ".join(failed), "error",
                                     ACKNOWLEDGE_CAUSE, failed_ids)
        elif lost:
            # Informative, not a fault: it stays until the next acknowledgement.
            self._show_action_notice("Not acknowledged by you: " + "; ".join(lost) + ".",
                                     "warning", ACKNOWLEDGE_CAUSE, set())
        else:
            self.view.clear_notice(ACKNOWLEDGE_CAUSE)  # this one went through
        self._upsert(rows)  # at once; the announcement confirms it a moment later
        self._refresh_counts()

    def _on_resolve_requested(self, alert_id: int, reason: str) -> None:
        user, service = self.user, self.service
        self._worker.run(lambda: service.resolve(user, alert_id, reason), self._on_resolved,
                  "Could not resolve", RESOLVE_CAUSE)

    def _on_resolved(self, outcome: Any) -> None:
        if not outcome.resolved:
            who = f"by {outcome.by}" if outcome.by else "automatically (condition cleared)"
            self._show_action_notice(f"Alert #{outcome.alert.id} was already resolved {who} "
                                     f"at {format_time(outcome.at)}.", "warning",
                                     RESOLVE_CAUSE, set())
        else:
            self.view.clear_notice(RESOLVE_CAUSE)
        self._upsert([alert_row(outcome.alert)])  # the details show its new history line
        self._refresh_counts()

    def _on_details_requested(self, alert_id: int) -> None:
        row = self.model.alert(alert_id)
        service, history = self.service, self._history
        self._details_wanted = alert_id

        def work() -> tuple[int, list[AlertEventRow], Any] | None:
            if self._details_wanted != alert_id:
                return None  # arrowed past it: skip the queries, a newer request follows
            unit = unit_of(row)
            events = [AlertEventRow(e.at, e.event, e.actor, describe_event(e.details, unit))
                      for e in service.history(alert_id)]
            series = None
            if history is not None and row is not None:
                try:
                    series = load_series(history, row)
                except Exception as exc:  # the chart is a bonus; the history still shows
                    logger.warning("no chart for alert %d: %s", alert_id, exc)
                    series = str(exc)
            return alert_id, events, series

        self._worker.run(work, self._on_details_loaded, "Could not load the alert's history")

    def _on_details_loaded(self, result: tuple[int, list[AlertEventRow], Any] | None) -> None:
        if result is None:
            return
        alert_id, events, series = result
        details = self.view.details
        shown = details.alert()
        if shown is None or shown.id != alert_id:
            return  # the operator moved on meanwhile
        details.set_history(events)
        if self._history is None:
            details.set_chart_unavailable("No history store connected.")
        elif series is None:
            details.set_chart_unavailable("No metric chart for this kind of alert.")
        elif isinstance(series, str):
            details.set_chart_unavailable(f"History unavailable: {series}")
        else:
            times, mean, low, high, label, unit = series
            details.set_series(times, mean, lower=low, upper=high, label=label, unit=unit,
                               threshold=shown.threshold, marker_at=shown.created_at)


def install_alerts_page(window, *, database, session, user: AuthUser, history_store=None,
                        publish: Callable[[str, bytes], None] | None = None) -> AlertsPage:
    """Add the Alerts tab (after Fleet) with live counts in its title, a status-bar label,
    Ctrl+2 to show it, and per-robot counts pushed into window.fleet; starts the page."""
    page = AlertsPage(database, session, user, history_store=history_store, publish=publish,
                      fleet=getattr(window, "fleet", None), parent=window)
    tabs = window.tabs
    window.add_fixed_tab(page, "Alerts", 1)
    label = QLabel(page.status_text())
    label.setObjectName("alerts_status")
    label.setToolTip("Unacknowledged alerts by severity (Ctrl+2 shows them)")
    window.statusBar().insertPermanentWidget(0, label)
    window.alerts_page = page
    window.alerts_status_label = label

    show = QAction("&Alerts", window)
    show.setShortcut(QKeySequence("Ctrl+2"))
    show.triggered.connect(lambda: tabs.setCurrentWidget(page))
    window.addAction(show)  # works whether or not a View menu exists
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "") == "View":
            action.menu().insertAction(action.menu().actions()[1] if len(
                action.menu().actions()) > 1 else None, show)

    def on_counts_changed(counts: dict[str, int]) -> None:
        text = counts_text(counts)
        position = tabs.indexOf(page)
        if position >= 0:
            tabs.setTabText(position, f"Alerts ({text})" if text else "Alerts")
            worst = next((s for s in SEVERITIES_WORST_FIRST if counts.get(s)), None)
            tabs.setTabIcon(position, severity_icon(worst) if worst else QIcon())

    def on_status_changed(text: str, critical: bool) -> None:
        label.setText(text)
        colour = SEVERITY_COLOURS[CRITICAL] if critical else ""
        label.setStyleSheet(f"color: {colour}; font-weight: bold;" if colour else "")

    def on_critical(row: AlertRow) -> None:
        # Short: the permanent widgets on the right leave little room (the tab has more).
        what = row.source or row.alert_type
        window.statusBar().showMessage(f"New critical alert on {row.robot_id}: {what}",
                                       NOTIFICATION_SHOWN_MS)

    page.counts_changed.connect(on_counts_changed)
    page.status_changed.connect(on_status_changed)
    page.critical_alert_raised.connect(on_critical)
    on_counts_changed({})
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(page.shutdown)
    page.start()
    return page
