"""What the records add to the live fleet: robots nobody is hearing from, open alerts,
the alert thresholds (per-robot overrides included) and alert markers for live pages.

The database is read on a worker thread (BackgroundWork) at start and every
RECORDS_REFRESH_S; the result comes back as plain data and is handed to FleetState and
to the live pages on the GUI thread.  Without a database (or while it is down) the fleet
keeps the thresholds of the migrations' seed (services.live.health.DEFAULT_THRESHOLDS).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QCoreApplication, QObject, QTimer

from app.background import BackgroundWork
from services.alerts.rules import METRICS
from services.live.model import KnownRobot
from services.records.db import Database
from services.records.fleet_queries import FleetQueries
from services.records.repositories import Threshold
from widgets.live_plot_overlays import AlertMarker

logger = logging.getLogger(__name__)

RECORDS_REFRESH_S = 30.0  # robots, last seen, open alerts, alert markers
THRESHOLDS_REFRESH_S = 60.0  # thresholds change rarely (an engineer edits them)
PAGE_STATE_INTERVAL_MS = 1000  # live page headers: state badge and reasons
MARKERS_SPAN_S = 900.0  # the widest live window (15 min)
SHUTDOWN_WAIT_MS = 2000


@dataclass(frozen=True, slots=True)
class FleetRecords:
    robots: tuple[KnownRobot, ...]
    # None when not read this time; else (global, {robot_id: effective thresholds})
    thresholds: tuple[dict[str, Threshold], dict[str, dict[str, Threshold]]] | None
    markers: tuple[AlertMarker, ...]


def signal_thresholds(thresholds: Mapping[str, Threshold]
                      ) -> dict[tuple[str, str], Threshold]:
    """Thresholds keyed by the signal they judge, (measurement, field), as live pages
    draw them; disabled ones are left out."""
    result = {}
    for metric_type, limits in thresholds.items():
        metric = METRICS.get(metric_type)
        if metric is not None and limits.enabled:
            result[(str(metric.measurement), metric.field)] = limits
    return result


def _marker_signal(alert_type: str, source: str | None) -> tuple[str, str] | None:
    for metric in METRICS.values():
        if metric.alert_type == alert_type and metric.source in (None, source):
            return str(metric.measurement), metric.field
    return None  # network, system: about the whole robot


def read_fleet_records(database: Database, *, with_thresholds: bool,
                       marker_robots: frozenset[str], now: datetime) -> FleetRecords:
    """One read of everything the fleet needs from the records (worker thread)."""
    read = FleetQueries(database).read(
        with_thresholds=with_thresholds, marker_robots=marker_robots,
        alerts_since=now - timedelta(seconds=MARKERS_SPAN_S))
    robots = tuple(KnownRobot(robot.robot_id, robot.name, robot.status, robot.last_seen,
                              read.open_alerts.get(robot.robot_id, 0))
                   for robot in read.robots)
    markers = tuple(
        AlertMarker(robot_id=row.robot_id, time=row.created_at.timestamp(),
                    severity=row.severity, text=row.title,
                    signal=_marker_signal(row.alert_type, row.source))
        for row in read.recent_alerts if row.created_at is not None)
    return FleetRecords(robots, read.thresholds, markers)


class FleetRecordsReader(QObject):
    """Reads the records now and every RECORDS_REFRESH_S; feeds `window`'s fleet and
    live pages with what it read (see the module docstring)."""

    def __init__(self, window, database: Database) -> None:
        super().__init__(window)
        self._window = window
        self._database = database
        self._work = BackgroundWork("reading fleet records", self)
        self._work.succeeded.connect(self._on_read_succeeded)
        self._work.failed.connect(self._on_read_failed)
        self._busy = False
        self._thresholds_read_at: datetime | None = None
        self._signal_thresholds: dict[str, dict[tuple[str, str], Threshold]] = {}
        self._global_signal_thresholds: dict[tuple[str, str], Threshold] = {}
        self._markers: tuple[AlertMarker, ...] = ()
        self._timer = QTimer(self)
        self._timer.setInterval(int(RECORDS_REFRESH_S * 1000))
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self._page_timer = QTimer(self)
        self._page_timer.setInterval(PAGE_STATE_INTERVAL_MS)
        self._page_timer.timeout.connect(self._on_page_timer_ticked)
        self._page_timer.start()
        window.live_page_opened.connect(self._on_live_page_opened)
        alerts_page = getattr(window, "alerts_page", None)
        if alerts_page is not None and hasattr(alerts_page, "counts_changed"):
            # An alert raised or resolved: open counts and markers change now, not in 30 s.
            alerts_page.counts_changed.connect(self._on_alert_counts_changed)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._on_about_to_quit)
        self.refresh()

    def refresh(self, force_thresholds: bool = False) -> None:
        if self._busy:
            return  # one read at a time; the next tick asks again
        now = datetime.now(UTC)
        with_thresholds = (force_thresholds or self._thresholds_read_at is None
                           or (now - self._thresholds_read_at).total_seconds()
                           >= THRESHOLDS_REFRESH_S)
        robots = frozenset(r for page in self._window.live_pages() for r in page.robot_ids())
        database = self._database
        self._busy = True
        self._work.start(now, lambda: read_fleet_records(
            database, with_thresholds=with_thresholds, marker_robots=robots, now=now))

    def _on_read_succeeded(self, token: datetime, records: FleetRecords) -> None:
        self._busy = False
        fleet = self._window.fleet
        fleet.apply_records(records.robots)
        if records.thresholds is not None:
            self._thresholds_read_at = token
            global_thresholds, per_robot = records.thresholds
            fleet.set_thresholds(global_thresholds, per_robot)
            self._global_signal_thresholds = signal_thresholds(global_thresholds)
            self._signal_thresholds = {robot: signal_thresholds(limits)
                                       for robot, limits in per_robot.items()}
        self._markers = records.markers
        for page in self._window.live_pages():
            self._feed_page(page)
        logger.debug("fleet records: %d robot(s), %d marker(s)", len(records.robots),
                     len(records.markers))

    def _on_read_failed(self, _token: object, message: str) -> None:
        self._busy = False
        logger.warning("fleet records not read (the live fleet goes on without): %s", message)

    def _feed_page(self, page) -> None:
        for robot in page.robot_ids():
            page.set_thresholds(robot, self._signal_thresholds.get(
                robot, self._global_signal_thresholds or self._default_signal_thresholds()))
        page.set_alert_markers([m for m in self._markers if m.robot_id in page.robot_ids()])
        self._push_states(page)

    def _default_signal_thresholds(self) -> dict[tuple[str, str], Threshold]:
        # Not read yet (or no database): the fleet's own defaults.
        fleet = self._window.fleet
        return signal_thresholds({
            metric: Threshold(warning=t.warning, critical=t.critical, enabled=True,
                              low_is_bad=t.low_is_bad)
            for metric, t in fleet.thresholds_for("").items()})

    def _push_states(self, page) -> None:
        fleet = self._window.fleet
        page.set_robot_states({robot: fleet.snapshot(robot) for robot in page.robot_ids()})

    def _on_page_timer_ticked(self) -> None:
        current = self._window.tabs.currentWidget()
        for page in self._window.live_pages():
            if page is current:
                self._push_states(page)

    def _on_live_page_opened(self, _robots: str) -> None:
        for page in self._window.live_pages():
            self._feed_page(page)
        self.refresh()  # markers for the robots of the new page

    def _on_alert_counts_changed(self, *_args) -> None:
        self.refresh()

    def _on_about_to_quit(self) -> None:
        self._timer.stop()
        self._page_timer.stop()
        self._work.shutdown(SHUTDOWN_WAIT_MS)


def install_fleet_records(window, database: Database | None) -> FleetRecordsReader | None:
    """Wire the records into the window's fleet (one call from app.main)."""
    if database is None:
        return None
    window.fleet_records = FleetRecordsReader(window, database)
    return window.fleet_records
