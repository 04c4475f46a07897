from PySide6.QtGui import QColor

from services.live.model import Health
from widgets.status_badge import (
    HEALTH_COLORS,
    StatusBadge,
    health_color,
    health_icon,
    health_text_color,
)


def test_each_health_has_its_own_colour():
    colours = {health_color(h).name() for h in Health}
    assert len(colours) == len(Health)
    assert health_color(Health.OK) == QColor(HEALTH_COLORS[Health.OK])


def test_text_on_badge_is_readable():
    assert health_text_color(Health.WARN) == QColor("#1b1b1b")  # amber: dark text
    assert health_text_color(Health.ERROR) == QColor("#ffffff")
    assert health_text_color(Health.OFFLINE) == QColor("#ffffff")


def test_icon_is_a_dot_in_the_health_colour(qtbot):
    image = health_icon(Health.ERROR).pixmap(12, 12).toImage()
    assert image.pixelColor(6, 6) == health_color(Health.ERROR)
    assert image.pixelColor(0, 0).alpha() == 0  # a round dot, transparent corner


def test_standalone_badge_paints_its_colour_and_explains(qtbot):
    badge = StatusBadge()
    qtbot.addWidget(badge)
    badge.set_health(Health.WARN, ("battery 18 %", "servo_2 62 °C"))
    badge.resize(badge.sizeHint())
    image = badge.grab().toImage()
    left_inside = image.pixelColor(image.width() // 8, image.height() // 2)
    assert left_inside == health_color(Health.WARN)
    assert badge.toolTip() == "WARN\nbattery 18 %\nservo_2 62 °C"
    assert badge.sizeHint().width() > badge.sizeHint().height() > 0
