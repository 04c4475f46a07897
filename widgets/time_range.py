"""A time range chooser: presets ("Last 24 h") plus a Custom choice with From/To
calendars.  The page lays out the three widgets as it likes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QDateTime, QObject
from PySide6.QtWidgets import QComboBox, QDateTimeEdit


class TimeRangeChoice(QObject):
    def __init__(self, presets_s: dict[str, int], custom_label: str,
                 clock: Callable[[], datetime], default: str | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._presets_s, self._custom, self._clock = presets_s, custom_label, clock
        self.choice = QComboBox()
        self.choice.addItems([*presets_s, custom_label])
        if default is not None:
            self.choice.setCurrentText(default)
        self.choice.currentTextChanged.connect(self._on_choice_changed)
        now = QDateTime.fromSecsSinceEpoch(int(clock().timestamp()))
        self.from_edit = QDateTimeEdit(now.addSecs(-86_400), calendarPopup=True)
        self.to_edit = QDateTimeEdit(now, calendarPopup=True)
        for edit in (self.from_edit, self.to_edit):
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
            edit.setEnabled(False)

    def set_custom(self, start: datetime, stop: datetime) -> None:
        self.choice.setCurrentText(self._custom)
        self.from_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(start.timestamp())))
        self.to_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(stop.timestamp())))

    def chosen(self) -> tuple[datetime, datetime]:
        """(start, stop) in UTC: the calendars' for Custom, else the preset ending now."""
        if self.choice.currentText() == self._custom:
            start = datetime.fromtimestamp(self.from_edit.dateTime().toSecsSinceEpoch(), UTC)
            stop = datetime.fromtimestamp(self.to_edit.dateTime().toSecsSinceEpoch(), UTC)
            return start, stop
        stop = self._clock()
        return stop - timedelta(seconds=self._presets_s[self.choice.currentText()]), stop

    def _on_choice_changed(self, text: str) -> None:
        for edit in (self.from_edit, self.to_edit):
            edit.setEnabled(text == self._custom)
