"""Where a signal goes on a live page, and the threshold lines drawn over each chart.

Pure functions of the page's robots and plot specs (widgets/live_specs.py), kept out of
live_page.py so the page holds only its widgets, feeding and pause/pan handling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.live.health import ThresholdLike
from services.live.model import SignalKey
from widgets.live_plot_overlays import CRITICAL, WARNING, ThresholdLine
from widgets.live_specs import PlotSpec, natural_key


@dataclass(frozen=True, slots=True)
class Route:
    plot_index: int
    order: tuple  # legend/colour order within the plot
    name: str


def route_for(key: SignalKey, robot_ids: list[str],
              plot_specs: tuple[PlotSpec, ...]) -> Route | None:
    """The first chart whose spec matches `key`, or None when the page does not draw it.
    Several robots overlaid: the legend name starts with the robot id."""
    if key.robot_id not in robot_ids:
        return None
    robot_index = robot_ids.index(key.robot_id)
    for plot_index, spec in enumerate(plot_specs):
        for pattern_index, pattern in enumerate(spec.signals):
            if pattern.matches(key):
                name = pattern.name or key.series or key.field
                if len(robot_ids) > 1:
                    name = f"{key.robot_id} {name}"
                order = (robot_index, pattern_index, natural_key(key.series))
                return Route(plot_index, order, name)
    return None


def threshold_lines(spec: PlotSpec,
                    thresholds: Mapping[str, Mapping[tuple[str, str], ThresholdLike]],
                    overlay: bool) -> list[ThresholdLine]:
    """Dashed warning and critical lines of every robot's limits on `spec`'s signals;
    `thresholds` is robot -> (measurement, field) -> limits."""
    lines = []
    for robot, limits in thresholds.items():
        for pattern in spec.signals:
            limit = limits.get((pattern.measurement, pattern.field))
            if limit is None or not getattr(limit, "enabled", True):
                continue
            name = pattern.name or pattern.field
            sign = "≤" if limit.low_is_bad else "≥"
            # Shared limits draw one line; a robot's own override says whose.
            owner = f"{robot} " if overlay and any(
                other.get((pattern.measurement, pattern.field)) != limit
                for other in thresholds.values()) else ""
            for level, value in ((WARNING, limit.warning), (CRITICAL, limit.critical)):
                lines.append(ThresholdLine(
                    value, level, f"{owner}{name} {level} {sign} {value:g}",
                    limit.low_is_bad, f"{owner}{pattern.measurement}/{pattern.field}"))
    return lines
