"""A centred line of text over an empty item view, saying why it is empty.

A blank table reads as "broken" or "still loading"; "No reports yet: ..." tells an
operator what is going on and what to do.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QAbstractItemView, QLabel


class EmptyState(QObject):
    """Shows `text()` over `view` while its model has no rows (and text() is not "")."""

    def __init__(self, view: QAbstractItemView, text: str | Callable[[], str]) -> None:
        super().__init__(view)
        self._view = view
        self._text = text if callable(text) else (lambda: text)
        self.label = QLabel(view.viewport())
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        self.label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        view.viewport().installEventFilter(self)
        model = view.model()
        for signal in (model.modelReset, model.rowsInserted, model.rowsRemoved,
                       model.layoutChanged):
            signal.connect(self.update)
        self.update()

    def shown_text(self) -> str:
        return "" if self.label.isHidden() else self.label.text()

    def update(self, *_args) -> None:
        text = self._text() if self._view.model().rowCount() == 0 else ""
        if not text:
            self.label.hide()
            return
        self.label.setText(text)
        self.label.setGeometry(self._view.viewport().rect().adjusted(16, 16, -16, -16))
        self.label.show()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Resize:
            self.label.setGeometry(self._view.viewport().rect().adjusted(16, 16, -16, -16))
        return False
