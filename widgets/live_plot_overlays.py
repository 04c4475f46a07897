"""What a live chart draws over its curves: threshold lines, alert markers and the
"waiting for data" note of an empty chart.  Plain data in, pyqtgraph items out."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import pyqtgraph as pg
from PySide6.QtCore import Qt

from services.live.model import Health
from widgets.status_badge import health_color

logger = logging.getLogger(__name__)

WARNING = "warning"
CRITICAL = "critical"
LEVEL_HEALTH = {WARNING: Health.WARN, CRITICAL: Health.ERROR}
THRESHOLD_Z = 500  # above the curves, below the crosshair (1000)
MARKER_Z = 400
THRESHOLD_LABEL_POSITION = 0.02  # near the left (oldest) end: the newest values stay clear
LABEL_STAGGER = 0.27  # of the plot's width, between the labels of different signals
LABEL_SLOTS = 3
WAITING_TEXT = "waiting for data"


@dataclass(frozen=True, slots=True)
class ThresholdLine:
    """One dashed horizontal line: `value` is the limit, `level` warning or critical."""

    value: float
    level: str
    label: str
    low_is_bad: bool = False
    signal: str = ""  # which curve it limits: a warning and a critical line pair by it


@dataclass(frozen=True, slots=True)
class AlertMarker:
    """An alert raised at `time` (epoch s); `signal` (measurement, field) names the
    chart it belongs to, None for the robot as a whole (network, emergency stop)."""

    robot_id: str
    time: float
    severity: str
    text: str
    signal: tuple[str, str] | None = None


def level_color(level: str):
    return health_color(LEVEL_HEALTH.get(level, Health.WARN))


class PlotOverlays:
    """Threshold lines, alert markers and the empty note of one pyqtgraph PlotItem."""

    def __init__(self, plot_item: pg.PlotItem) -> None:
        self._plot_item = plot_item
        self._view_box = plot_item.getViewBox()
        self.threshold_lines: list[pg.InfiniteLine] = []
        self.thresholds: tuple[ThresholdLine, ...] = ()
        self.marker_lines: list[pg.InfiniteLine] = []
        self.waiting = pg.TextItem(WAITING_TEXT, anchor=(0.5, 0.5))
        self.waiting.setParentItem(self._view_box)  # in pixels: stays centred
        self._waiting: bool | None = None
        self._view_box.sigResized.connect(self._place_waiting)

    # --- thresholds -----------------------------------------------------------------

    def set_thresholds(self, lines: list[ThresholdLine]) -> None:
        lines = tuple(sorted(set(lines), key=lambda line: (line.value, line.level)))
        if lines == self.thresholds:
            return
        for item in self.threshold_lines:
            self._plot_item.removeItem(item)
        self.thresholds = lines
        self.threshold_lines = []
        signals = list(dict.fromkeys(line.signal for line in lines))
        for line in lines:
            pen = pg.mkPen(level_color(line.level), width=1, style=Qt.PenStyle.DashLine)
            # Labels of different signals side by side, not piled up at one end; on the
            # good side of the line (below a high limit, above a low one): a warning
            # and a critical label close together then do not overlap.
            position = (THRESHOLD_LABEL_POSITION
                        + LABEL_STAGGER * (signals.index(line.signal) % LABEL_SLOTS))
            anchor = (0, 1) if line.low_is_bad else (0, 0)
            item = pg.InfiniteLine(
                pos=line.value, angle=0, movable=False, pen=pen, label=line.label,
                labelOpts={"position": position, "color": level_color(line.level),
                           "anchors": [anchor, anchor]})
            item.setZValue(THRESHOLD_Z)
            self._plot_item.addItem(item, ignoreBounds=True)
            self.threshold_lines.append(item)

    def y_bounds(self, data_bounds: tuple[float, float] | None) -> list[tuple[float, float]]:
        """Limits the y range should include: the warning lines (how close the values
        are), and the critical ones once a value is past its warning."""
        if data_bounds is None:
            return []
        low, high = data_bounds
        warnings = {line.signal: line.value for line in self.thresholds
                    if line.level == WARNING}
        result = []
        for line in self.thresholds:
            if line.level == WARNING:
                result.append((line.value, line.value))
                continue
            warning = warnings.get(line.signal)
            past = (warning is not None
                    and (low <= warning if line.low_is_bad else high >= warning))
            if past:
                result.append((line.value, line.value))
        return result

    # --- alert markers --------------------------------------------------------------

    def set_markers(self, markers: list[AlertMarker]) -> None:
        for item in self.marker_lines:
            self._plot_item.removeItem(item)
        self.marker_lines = []
        for marker in markers:
            color = level_color(marker.severity)
            clock = datetime.fromtimestamp(marker.time, UTC).astimezone().strftime("%H:%M:%S")
            item = pg.InfiniteLine(pos=marker.time, angle=90, movable=False,
                                   pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DotLine),
                                   label="▲", labelOpts={"position": 0.96, "color": color})
            item.setToolTip(f"{clock} {marker.robot_id}: {marker.text} ({marker.severity})")
            item.setZValue(MARKER_Z)
            self._plot_item.addItem(item, ignoreBounds=True)
            self.marker_lines.append(item)

    # --- empty note -----------------------------------------------------------------

    def set_waiting(self, waiting: bool, color) -> None:
        """Show "waiting for data" and hide the meaningless 0..1 ticks of an empty chart."""
        self.waiting.setColor(color)
        if waiting == self._waiting:
            return
        self._waiting = waiting
        self.waiting.setVisible(waiting)
        for name in ("left", "bottom"):
            self._plot_item.getAxis(name).setStyle(showValues=not waiting)
        self._place_waiting()

    def is_waiting(self) -> bool:
        return bool(self._waiting)

    def _place_waiting(self, *_args) -> None:
        rect = self._view_box.boundingRect()
        self.waiting.setPos(rect.center())
