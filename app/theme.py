"""Light and dark palettes that follow the system, and the console's resources."""

from __future__ import annotations

import logging
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

logger = logging.getLogger(__name__)

RESOURCES_DIR = Path(__file__).resolve().parents[1] / "resources"


def resource_path(name: str) -> Path:
    return RESOURCES_DIR / name


def app_icon() -> QIcon:
    return QIcon(str(resource_path("icons/tonypi.svg")))


def is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    if hints.colorScheme() != Qt.ColorScheme.Unknown:
        return hints.colorScheme() == Qt.ColorScheme.Dark
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def apply_theme(app: QApplication) -> None:
    """Fusion follows the system's colour scheme in Qt 6; plots follow the palette."""
    app.setStyle("Fusion")
    app.setWindowIcon(app_icon())
    try:
        app.setStyleSheet(resource_path("style.qss").read_text())
    except OSError as exc:
        logger.warning("stylesheet not loaded: %s", exc)
    _apply_plot_colours()
    app.styleHints().colorSchemeChanged.connect(lambda *_: _apply_plot_colours())


def _apply_plot_colours() -> None:
    palette = QGuiApplication.palette()
    pg.setConfigOptions(
        background=palette.color(QPalette.ColorRole.Base),
        foreground=palette.color(QPalette.ColorRole.Text),
        antialias=False,
    )
