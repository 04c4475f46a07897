"""What the console's History page draws over its curves from the records: alert
raised/resolved markers, job spans and the alert thresholds in force, as plain tuples.

    overlays = HistoryOverlays(database)
    markers, spans = overlays.markers_and_spans(["r1"], start, stop)
    limits = overlays.thresholds(["r1"])  # {"r1": {"cpu": (80.0, 95.0)}}

A module of its own beside the packages it reads (alerts, records): records may not
import alerts, which already imports records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from services.alerts.store import AlertStore
from services.records.db import Database
from services.records.jobs import JobRepository
from services.records.repositories import ThresholdRepository

logger = logging.getLogger(__name__)

OVERLAY_ROWS_LIMIT = 2000

Marker = tuple[datetime, str, str]  # (time, label, "raised" | "resolved")
Span = tuple[datetime, datetime, str]  # (start, end, label)
Limits = tuple[float, float]  # (warning, critical)


class HistoryOverlays:
    def __init__(self, database: Database) -> None:
        self._db = database

    def markers_and_spans(self, robots: Iterable[str], start: datetime, stop: datetime,
                          limit: int = OVERLAY_ROWS_LIMIT) -> tuple[list[Marker], list[Span]]:
        """Alert raised/resolved markers and job spans inside [start, stop], reading the
        newest `limit` alerts and jobs of each robot."""
        markers: list[Marker] = []
        spans: list[Span] = []
        with self._db.session() as session:
            for robot in robots:
                for alert in AlertStore(session).list(robot_id=robot, limit=limit):
                    if alert.created_at and start <= alert.created_at <= stop:
                        markers.append((alert.created_at, f"{robot}: {alert.title}", "raised"))
                    if alert.resolved_at and start <= alert.resolved_at <= stop:
                        markers.append((alert.resolved_at, f"{robot}: {alert.title} ✓",
                                        "resolved"))
                for job in JobRepository(session).list(robot_id=robot, limit=limit):
                    end = job.end_time or stop  # a running job reaches the right edge
                    if job.start_time <= stop and end >= start:
                        spans.append((max(job.start_time, start), min(end, stop),
                                      f"{robot}: {job.task_name or 'job'} ({job.status})"))
        return markers, spans

    def thresholds(self, robots: Iterable[str]) -> dict[str, dict[str, Limits]]:
        """The enabled alert thresholds in force for each robot (its own over the global)."""
        result: dict[str, dict[str, Limits]] = {}
        with self._db.session() as session:
            repository = ThresholdRepository(session)
            for robot in robots:
                result[robot] = {metric: (limit.warning, limit.critical)
                                 for metric, limit in repository.effective(robot).items()
                                 if limit.enabled}
        return result
