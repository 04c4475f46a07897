"""The state line(s) of a live page: per robot its health badge and why, and in an overlay
the colour its curves are drawn in."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QWidget

from services.live.model import Health, RobotSnapshot
from widgets.live_plot_items import curve_colors
from widgets.status_badge import StatusBadge

logger = logging.getLogger(__name__)

REASONS_SEPARATOR = "; "
ALL_WELL_TEXT = "all signals within limits"
NOT_HEARD_TEXT = "no message from this robot yet"
SWATCH = "\u25a0"  # a filled square in the robot's curve colour


class RobotStateStrip(QWidget):
    """One row per robot: [colour swatch and id, in an overlay] badge, reasons."""

    def __init__(self, robot_ids: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._robot_ids = list(robot_ids)
        self.badges: dict[str, StatusBadge] = {}
        self.reason_labels: dict[str, QLabel] = {}
        self._swatches: dict[str, QLabel] = {}
        overlay = len(self._robot_ids) > 1
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        for row, robot in enumerate(self._robot_ids):
            column = 0
            if overlay:
                swatch = QLabel(f"{SWATCH} {robot}")
                swatch.setTextFormat(Qt.TextFormat.PlainText)
                self._swatches[robot] = swatch
                grid.addWidget(swatch, row, column)
                column += 1
            badge = StatusBadge(Health.UNKNOWN)
            badge.setAccessibleName(f"status of {robot}")
            grid.addWidget(badge, row, column)
            reasons = QLabel(NOT_HEARD_TEXT)
            reasons.setTextFormat(Qt.TextFormat.PlainText)
            reasons.setForegroundRole(QPalette.ColorRole.PlaceholderText)
            # Long reasons are cut (the tooltip has them all) rather than widening the page.
            reasons.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            grid.addWidget(reasons, row, column + 1)
            self.badges[robot] = badge
            self.reason_labels[robot] = reasons
        grid.setColumnStretch(grid.columnCount() - 1, 1)
        self.set_robot_colors(curve_colors(len(self._robot_ids), self._dark_background()))

    def set_robot_colors(self, colors) -> None:
        for robot, color in zip(self._robot_ids, colors, strict=False):
            swatch = self._swatches.get(robot)
            if swatch is not None:
                palette = swatch.palette()
                palette.setColor(QPalette.ColorRole.WindowText, color)
                swatch.setPalette(palette)

    def set_states(self, snapshots: dict[str, RobotSnapshot | None]) -> None:
        """The robots' current health and reasons (None: not heard of yet)."""
        for robot, snapshot in snapshots.items():
            badge = self.badges.get(robot)
            if badge is None:
                continue
            if snapshot is None:
                badge.set_health(Health.UNKNOWN, (NOT_HEARD_TEXT,))
                text = NOT_HEARD_TEXT
            else:
                badge.set_health(snapshot.health, snapshot.reasons)
                text = (REASONS_SEPARATOR.join(snapshot.reasons) if snapshot.reasons
                        else ALL_WELL_TEXT)
            label = self.reason_labels[robot]
            if label.text() != text:
                label.setText(text)
                label.setToolTip("\n".join(text.split(REASONS_SEPARATOR)))
                ok = snapshot is not None and snapshot.health is Health.OK
                label.setForegroundRole(QPalette.ColorRole.PlaceholderText if ok
                                        or snapshot is None else QPalette.ColorRole.WindowText)

    def reasons_text(self, robot_id: str) -> str:
        return self.reason_labels[robot_id].text()

    def _dark_background(self) -> bool:
        return self.palette().color(QPalette.ColorRole.Base).lightnessF() < 0.5
