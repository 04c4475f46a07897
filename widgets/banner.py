"""A full-width banner for what an operator must not miss (broker lost, no ingest).

Small status-bar text is easy to overlook; a coloured strip over the pages is not.
The banner only shows text it is given and offers one optional action button.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from widgets.palette import is_dark

logger = logging.getLogger(__name__)

# level -> ((background, text, border) on a light palette, same on a dark one)
COLOURS = {
    "error": (("#fce8e6", "#a50e0e", "#d93025"), ("#5c1a16", "#ffdad6", "#f28b82")),
    "warning": (("#fef7e0", "#7a4b00", "#f9ab00"), ("#4a3800", "#ffe8a3", "#fdd663")),
    "info": (("#e8f0fe", "#174ea6", "#aecbfa"), ("#1a3055", "#d2e3fc", "#8ab4f8")),
}
ICONS = {"error": "\u26a0", "warning": "\u26a0", "info": "\u2139"}


class Banner(QFrame):
    action_clicked = Signal()

    def __init__(self, name: str, action_text: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._level = ""
        self._text = ""
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        self.icon_label = QLabel()
        self.text_label = QLabel()
        self.text_label.setObjectName(f"{name}_text")
        self.text_label.setWordWrap(True)
        self.text_label.setTextFormat(Qt.TextFormat.PlainText)
        self.text_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.text_label.font()
        font.setBold(True)
        self.text_label.setFont(font)
        self.icon_label.setFont(font)
        layout.addWidget(self.icon_label, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.text_label, 1)
        self.action_button: QPushButton | None = None
        if action_text:
            self.action_button = QPushButton(action_text)
            self.action_button.clicked.connect(self.action_clicked)
            layout.addWidget(self.action_button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.hide()

    @property
    def text(self) -> str:
        """The shown message; "" while hidden."""
        return "" if self.isHidden() else self._text

    @property
    def level(self) -> str:
        return self._level

    def show_message(self, level: str, text: str) -> None:
        if level != self._level:
            self._level = level
            self._restyle()
        if text != self._text:
            self._text = text
            self.text_label.setText(text)
            self.icon_label.setText(ICONS.get(level, ""))
        if self.isHidden():
            logger.info("banner %s: %s", self.objectName(), text)
            self.show()

    def clear(self) -> None:
        if not self.isHidden():
            logger.info("banner %s cleared", self.objectName())
            self.hide()
        self._text = ""

    def _restyle(self) -> None:
        dark = is_dark(self)
        background, text, border = COLOURS.get(self._level, COLOURS["info"])[dark]
        name = self.objectName()
        self.setStyleSheet(f"QFrame#{name} {{ background: {background}; "
                           f"border: 1px solid {border}; border-left: 6px solid {border}; }}"
                           f"QFrame#{name} QLabel {{ color: {text}; background: transparent; "
                           "border: none; }")
