"""Light and dark palettes that follow the system, and the console's resources."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

logger = logging.getLogger(__name__)

RESOURCES_DIR = Path(__file__).resolve().parents[1] / "resources"
# Overrides the system's light/dark choice (screenshots, kiosks, a desktop without a
# colour-scheme setting such as a bare X server): "light", "dark" or "system".
COLOR_SCHEME_ENV = "TONYPI_COLOR_SCHEME"
_SCHEMES = {"light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}
DARK_INDICATOR_QSS = """
QTreeView::indicator:unchecked, QListView::indicator:unchecked,
QTableView::indicator:unchecked, QCheckBox::indicator:unchecked {
    border: 1px solid #9a9a9a; border-radius: 2px; background: #1e1f22;
    width: 11px; height: 11px;
}
"""


def resource_path(name: str) -> Path:
    return RESOURCES_DIR / name


def app_icon() -> QIcon:
    return QIcon(str(resource_path("icons/tonypi.svg")))


_forced: str | None = None


def is_dark() -> bool:
    if _forced is not None:
        return _forced == "dark"
    hints = QGuiApplication.styleHints()
    if hints.colorScheme() != Qt.ColorScheme.Unknown:
        return hints.colorScheme() == Qt.ColorScheme.Dark
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def apply_theme(app: QApplication, scheme: str | None = None) -> None:
    """Fusion follows the system's colour scheme in Qt 6; plots follow the palette.

    `scheme` (or $TONYPI_COLOR_SCHEME) forces "light" or "dark"."""
    app.setStyle("Fusion")
    global _forced
    scheme = (scheme or os.environ.get(COLOR_SCHEME_ENV, "system")).strip().lower()
    if scheme in _SCHEMES:
        _forced = scheme
        app.styleHints().setColorScheme(_SCHEMES[scheme])
        # Platforms without a colour-scheme service (a bare X server) ignore the hint:
        # give Fusion the palette itself.
        app.setPalette(_dark_palette() if scheme == "dark" else app.style().standardPalette())
    elif scheme != "system":
        logger.warning("unknown colour scheme %r (light, dark or system); following the "
                       "system", scheme)
    app.setWindowIcon(app_icon())
    try:
        sheet = resource_path("style.qss").read_text()
    except OSError as exc:
        logger.warning("stylesheet not loaded: %s", exc)
        sheet = ""
    # Fusion draws an unchecked box's border a shade off the dark Base colour: invisible.
    app.setStyleSheet(sheet + (DARK_INDICATOR_QSS if is_dark() else ""))
    _apply_plot_colours()
    app.styleHints().colorSchemeChanged.connect(lambda *_: _apply_plot_colours())


def _dark_palette() -> QPalette:
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    palette = QPalette()
    colours = {
        role.Window: "#2b2d30", role.WindowText: "#e6e6e6", role.Base: "#1e1f22",
        role.AlternateBase: "#26282b", role.ToolTipBase: "#3c3f41", role.ToolTipText: "#e6e6e6",
        role.PlaceholderText: "#8c8c8c", role.Text: "#e6e6e6", role.Button: "#3c3f41",
        role.ButtonText: "#e6e6e6", role.BrightText: "#ff6b68", role.Link: "#6aa6f8",
        role.Highlight: "#2f65ca", role.HighlightedText: "#ffffff", role.Light: "#4a4d50",
        role.Midlight: "#3c3f41", role.Mid: "#313335", role.Dark: "#1b1c1e",
        role.Shadow: "#101010",
    }
    for colour_role, colour in colours.items():
        palette.setColor(colour_role, QColor(colour))
    for colour_role in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(group.Disabled, colour_role, QColor("#7a7a7a"))
    return palette


def _apply_plot_colours() -> None:
    palette = QGuiApplication.palette()
    pg.setConfigOptions(
        background=palette.color(QPalette.ColorRole.Base),
        foreground=palette.color(QPalette.ColorRole.Text),
        antialias=False,
    )
