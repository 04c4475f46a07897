"""Colours, opacities and item-data roles shared by several widgets and dialogs.

One place for the Qt-side vocabulary, so the same meaning has one colour and one role
everywhere (issue 12).  Colour pairs are (light palette, dark palette), picked with
`is_dark`.  No MQTT, no databases: only Qt and services.vocabulary.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QWidget

from services.vocabulary import BAND_ALPHA_FRACTION, CRITICAL, WARNING

MAX_ALPHA = 255
PALETTE_DARK_BELOW_LIGHTNESS = 128  # a window colour darker than this is a dark palette

# Text colour pairs (light, dark) for a status in words: the status bar's pipeline
# indicator, the sign-in and settings dialogs.
OK_TEXT_COLOURS = ("#137333", "#81c995")
ERROR_TEXT_COLOURS = ("#c5221f", "#f28b82")
WAIT_TEXT_COLOURS = ("#7a4b00", "#fdd663")

# Badge colours: health dots, alert severity icons and the critical row tint.
OK_COLOUR = "#2e9d4f"  # green
WARN_COLOUR = "#e3a008"  # amber
ERROR_COLOUR = "#d63a3a"  # red
STALE_COLOUR = "#8d949b"  # grey: reads on light and dark backgrounds
SEVERITY_COLOURS = {CRITICAL: ERROR_COLOUR, WARNING: WARN_COLOUR}

# Threshold lines on plots.
THRESHOLD_COLOURS = {WARNING: "#e69f00", CRITICAL: "#d62728"}

BAND_ALPHA = round(BAND_ALPHA_FRACTION * MAX_ALPHA)  # of 255: min/max band behind a mean

# Item-data roles.  Every model that has row ids keeps them in ID_ROLE and every sortable
# model its sort key in SORT_ROLE, so proxies and pages need not know which model it is;
# a model's own roles start at FIRST_OWN_ROLE.
ID_ROLE = Qt.ItemDataRole.UserRole  # alert id, job id, log row id, robot id, signal key
SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # numbers as numbers, None when unknown (sorts last)
FIRST_OWN_ROLE = Qt.ItemDataRole.UserRole + 2


def is_dark(widget: QWidget) -> bool:
    """True when the widget's palette is dark: picks the second colour of a pair."""
    return widget.palette().color(QPalette.ColorRole.Window).lightness() < \
        PALETTE_DARK_BELOW_LIGHTNESS
