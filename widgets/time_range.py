"""A time range chooser: presets ("Last 24 h") plus a Custom choice with From/To
calendars.  The page lays out the widgets as it likes.

The From/To fields always show the range that will be queried: choosing a preset fills
them with the preset ending now, and editing either of them switches to Custom (an
operator who types a date means that date, not "Last 24 h").  They show local time,
which `zone_label` names."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QDateTime, QObject
from PySide6.QtWidgets import QComboBox, QDateTimeEdit, QLabel

logger = logging.getLogger(__name__)

EDIT_FORMAT = "yyyy-MM-dd HH:mm"


def local_zone_name(moment: datetime) -> str:
    """'UTC' when local time is UTC, else e.g. 'local time, CET (UTC+01:00)'."""
    local = moment.astimezone()
    offset = local.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        return "UTC"
    sign = "+" if offset >= timedelta(0) else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"local time, {local.tzname()} (UTC{sign}{minutes // 60:02d}:{minutes % 60:02d})"


class TimeRangeChoice(QObject):
    def __init__(self, presets_s: dict[str, int], custom_label: str,
                 clock: Callable[[], datetime], default: str | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._presets_s, self._custom, self._clock = presets_s, custom_label, clock
        self._filling = False  # True while we fill the edits: not the operator's edit
        self.choice = QComboBox()
        self.choice.addItems([*presets_s, custom_label])
        if default is not None:
            self.choice.setCurrentText(default)
        self.choice.currentTextChanged.connect(self._on_choice_changed)
        self.from_edit = QDateTimeEdit(calendarPopup=True)
        self.to_edit = QDateTimeEdit(calendarPopup=True)
        self.zone_label = QLabel(f"Times in {local_zone_name(clock())}")
        for edit in (self.from_edit, self.to_edit):
            edit.setDisplayFormat(EDIT_FORMAT)
            edit.setToolTip(f"In {local_zone_name(clock())}; editing switches to "
                            f"{custom_label.rstrip('…')}")
        stop = clock()
        preset_s = presets_s.get(self.choice.currentText(), 86_400)
        self._fill(stop - timedelta(seconds=preset_s), stop)
        for edit in (self.from_edit, self.to_edit):
            edit.dateTimeChanged.connect(self._on_edited)

    def set_custom(self, start: datetime, stop: datetime) -> None:
        self.choice.setCurrentText(self._custom)
        self._fill(start, stop)

    def chosen(self) -> tuple[datetime, datetime]:
        """(start, stop) in UTC: the calendars' for Custom, else the preset ending now
        (the calendars are filled with it, so they say what was asked)."""
        if self.choice.currentText() == self._custom:
            start = datetime.fromtimestamp(self.from_edit.dateTime().toSecsSinceEpoch(), UTC)
            stop = datetime.fromtimestamp(self.to_edit.dateTime().toSecsSinceEpoch(), UTC)
            return start, stop
        stop = self._clock()
        start = stop - timedelta(seconds=self._presets_s[self.choice.currentText()])
        self._fill(start, stop)
        return start, stop

    def _fill(self, start: datetime, stop: datetime) -> None:
        self._filling = True
        try:
            self.from_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(start.timestamp())))
            self.to_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(stop.timestamp())))
        finally:
            self._filling = False

    def _on_choice_changed(self, text: str) -> None:
        if text in self._presets_s:
            stop = self._clock()
            self._fill(stop - timedelta(seconds=self._presets_s[text]), stop)

    def _on_edited(self, _value: QDateTime) -> None:
        if not self._filling and self.choice.currentText() != self._custom:
            self.choice.setCurrentText(self._custom)
