"""A painted health badge (OK / WARN / ERROR / STALE / OFFLINE), standalone or inside a table.

The badge colours are the only fixed colours in the widgets: they carry meaning and must
look the same in light and dark palettes.  The text on a badge is chosen for contrast
with the badge, everything around it uses the palette.
"""

from __future__ import annotations

import logging
from functools import cache

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from services.live.model import Health
from widgets.palette import ERROR_COLOUR, OK_COLOUR, STALE_COLOUR, WARN_COLOUR

logger = logging.getLogger(__name__)

HEALTH_COLORS: dict[Health, str] = {
    Health.OK: OK_COLOUR,
    Health.WARN: WARN_COLOUR,
    Health.ERROR: ERROR_COLOUR,
    Health.STALE: STALE_COLOUR,
    Health.OFFLINE: "#4b5057",  # dark grey
    Health.UNKNOWN: "#6b7a8f",  # slate: listed by the records, never heard from
}
LEVEL_TINT_ALPHA = 80  # of 255: a cell past a threshold is tinted, its text stays readable
ICON_SIZE_PX = 12
BADGE_PADDING_X_PX = 7
BADGE_PADDING_Y_PX = 2
BADGE_MIN_WIDTH_EM = 5  # every status word fits, so badges in a column line up


def health_color(health: Health) -> QColor:
    return QColor(HEALTH_COLORS[Health(health)])


def level_background(health: Health) -> QColor | None:
    """A translucent amber (WARN) or red (ERROR) tint for a value past its threshold;
    translucent so it reads over light and dark bases and over alternating rows."""
    if health not in (Health.WARN, Health.ERROR):
        return None
    color = health_color(health)
    color.setAlpha(LEVEL_TINT_ALPHA)
    return color


def health_text_color(health: Health) -> QColor:
    """Black or white, whichever reads better on the badge colour."""
    color = health_color(health)
    # Relative luminance (sRGB weights); amber and light grey need dark text.
    luminance = 0.2126 * color.redF() + 0.7152 * color.greenF() + 0.0722 * color.blueF()
    return QColor("#1b1b1b") if luminance > 0.55 else QColor("#ffffff")


@cache
def health_icon(health: Health, size: int = ICON_SIZE_PX) -> QIcon:
    """A filled dot in the health colour, for DecorationRole and menus (cached per value)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(health_color(health).darker(130))
    painter.setBrush(health_color(health))
    painter.drawEllipse(QRectF(0.5, 0.5, size - 1.0, size - 1.0))
    painter.end()
    return QIcon(pixmap)


def badge_size(font: QFont, health: Health) -> QSize:
    metrics = QFontMetrics(badge_font(font))
    text_width = max(metrics.horizontalAdvance(Health(health).name),
                     metrics.averageCharWidth() * BADGE_MIN_WIDTH_EM)
    return QSize(text_width + 2 * BADGE_PADDING_X_PX, metrics.height() + 2 * BADGE_PADDING_Y_PX)


def badge_font(font: QFont) -> QFont:
    bold = QFont(font)
    bold.setBold(True)
    bold.setPointSizeF(max(font.pointSizeF() * 0.9, 7.0))
    return bold


def paint_badge(painter: QPainter, rect: QRectF, health: Health, font: QFont) -> None:
    """Paint a rounded pill with the health name centred in `rect` (no wider than needed)."""
    size = badge_size(font, health)
    width = min(float(size.width()), rect.width())
    height = min(float(size.height()), rect.height())
    pill = QRectF(rect.left(), rect.center().y() - height / 2, width, height)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(health_color(health))
    painter.drawRoundedRect(pill, height / 2, height / 2)
    painter.setPen(health_text_color(health))
    painter.setFont(badge_font(font))
    painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, Health(health).name)
    painter.restore()


class StatusBadge(QWidget):
    """Standalone badge: `set_health(Health.WARN, ("battery 18 %",))`.

    The reasons become the tooltip.
    """

    def __init__(self, health: Health = Health.OFFLINE, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._health = Health(health)
        self._reasons: tuple[str, ...] = ()
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("status")
        self._update_tooltip()

    def health(self) -> Health:
        return self._health

    def reasons(self) -> tuple[str, ...]:
        return self._reasons

    def set_health(self, health: Health, reasons: tuple[str, ...] | list[str] = ()) -> None:
        health, reasons = Health(health), tuple(reasons)
        if (health, reasons) == (self._health, self._reasons):
            return
        self._health, self._reasons = health, reasons
        self._update_tooltip()
        self.updateGeometry()
        self.update()

    def _update_tooltip(self) -> None:
        lines = [self._health.name, *self._reasons]
        self.setToolTip("\n".join(lines))
        self.setAccessibleDescription("; ".join(lines))

    def sizeHint(self) -> QSize:
        return badge_size(self.font(), self._health)

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        paint_badge(painter, QRectF(self.rect()), self._health, self.font())
        painter.end()
