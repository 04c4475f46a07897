"""What the console's live fleet reads from the records: known robots with their open
alert counts, the alert thresholds (per-robot overrides included) and recent alerts of
the robots on live pages.  The app turns the answer into fleet and plot data.

    read = FleetQueries(database).read(with_thresholds=True, marker_robots={"r1"},
                                       alerts_since=now - timedelta(minutes=15))
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select

from services.records.db import Database
from services.records.models import Alert, AlertThreshold, Robot
from services.records.repositories import RobotRepository, Threshold, ThresholdRepository

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FleetRead:
    robots: list[Robot]  # active robots, as RobotRepository lists them
    open_alerts: dict[str, int]  # robot_id -> unresolved alerts
    # None when not asked for; else (global, {robot_id: effective thresholds})
    thresholds: tuple[dict[str, Threshold], dict[str, dict[str, Threshold]]] | None
    recent_alerts: list[Alert]  # of the marker robots since alerts_since, oldest first


class FleetQueries:
    def __init__(self, database: Database) -> None:
        self._db = database

    def read(self, *, with_thresholds: bool, marker_robots: Iterable[str],
             alerts_since: datetime) -> FleetRead:
        """One session for the whole read, so counts, robots and alerts agree."""
        marker_robots = sorted(set(marker_robots))
        # a NULL resolved counts as open, as it always has on the fleet page
        open_alert = or_(Alert.resolved.is_(False), Alert.resolved.is_(None))
        with self._db.session() as session:
            counts = dict(session.execute(
                select(Alert.robot_id, func.count()).where(open_alert)
                .group_by(Alert.robot_id)).all())
            robots = RobotRepository(session).list()
            thresholds = None
            if with_thresholds:
                repository = ThresholdRepository(session)
                overridden = session.scalars(select(AlertThreshold.robot_id).where(
                    AlertThreshold.robot_id.is_not(None)).distinct())
                thresholds = (repository.effective(None),
                              {robot_id: repository.effective(robot_id)
                               for robot_id in overridden})
            recent: list[Alert] = []
            if marker_robots:
                recent = list(session.scalars(select(Alert).where(
                    Alert.robot_id.in_(marker_robots), Alert.created_at >= alerts_since)
                    .order_by(Alert.created_at)))
        return FleetRead(robots, counts, thresholds, recent)
