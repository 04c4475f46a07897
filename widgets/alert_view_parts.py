"""Pieces of the alerts table: filter proxy, the row's Acknowledge button, a notice banner."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionButton,
    QStyleOptionViewItem,
    QToolButton,
    QWidget,
)

from widgets.alert_model import (
    ACKNOWLEDGE_TEXT,
    CREATED_ROLE,
    ROBOT_ROLE,
    SEVERITY_ROLE,
    SORT_ROLE,
    STATE_ROLE,
)

logger = logging.getLogger(__name__)

TIME_RANGES_S: dict[str, float | None] = {
    "Last hour": 3600.0, "Last 24 h": 86400.0, "Last 7 days": 7 * 86400.0, "All times": None}
SEVERITY_CHOICES = {"All severities": None, "Critical": "critical", "Warning": "warning"}
# Filter value -> the row states it lets through.
STATE_CHOICES: dict[str, frozenset[str] | None] = {
    "All states": None,
    "Unacknowledged": frozenset({"active-unacknowledged", "cleared-unacknowledged"}),
    "Active": frozenset({"active-unacknowledged", "active-acknowledged"}),
    "Active, unacknowledged": frozenset({"active-unacknowledged"}),
    "Active, acknowledged": frozenset({"active-acknowledged"}),
    "Cleared": frozenset({"cleared-unacknowledged", "cleared-acknowledged"}),
}
ALL_ROBOTS = "All robots"
TIME_FILTER_REFRESH_MS = 30_000  # rows age out of "last hour" without any new data
BUTTON_MARGIN_PX = 3
NOTICE_COLORS = {"error": ("#fbe3e3", "#8a1f1f"), "warning": ("#fff3cd", "#6b4e00"),
                 "info": ("#e3eefb", "#1f3f8a")}


class AlertFilterProxy(QSortFilterProxyModel):
    """Severity, robot, state and time-range filters; sorts on SORT_ROLE, unknowns last."""

    def __init__(self, parent: QObject | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(parent)
        self._clock = clock
        self.severity: str | None = None
        self.robot: str | None = None
        self.states: frozenset[str] | None = None
        self.max_age_s: float | None = None
        self.setSortRole(SORT_ROLE)

    def set_filters(self, *, severity: str | None = None, robot: str | None = None,
                    states: frozenset[str] | None = None, max_age_s: float | None = None) -> None:
        self.beginFilterChange()
        self.severity, self.robot, self.states, self.max_age_s = severity, robot, states, max_age_s
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def refresh(self) -> None:
        """Apply the time range again: rows age out of it as the clock moves on."""
        self.beginFilterChange()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex  # noqa: N802
                         | QPersistentModelIndex) -> bool:
        index = self.sourceModel().index(source_row, 0, source_parent)
        if self.severity and index.data(SEVERITY_ROLE) != self.severity:
            return False
        if self.robot and index.data(ROBOT_ROLE) != self.robot:
            return False
        if self.states is not None and index.data(STATE_ROLE) not in self.states:
            return False
        if self.max_age_s is not None:
            created = index.data(CREATED_ROLE)
            if created is None or created < self._clock() - self.max_age_s:
                return False
        return True

    def lessThan(self, left: QModelIndex | QPersistentModelIndex,  # noqa: N802
                 right: QModelIndex | QPersistentModelIndex) -> bool:
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if a is None or b is None:
            # Unknowns last in both directions: "less" flips with the sort order.
            descending = self.sortOrder() == Qt.SortOrder.DescendingOrder
            return (a is None) == descending and a is not b
        if a == b:  # stable and newest first among equals
            return (left.data(CREATED_ROLE) or 0) < (right.data(CREATED_ROLE) or 0)
        return a < b


class AcknowledgeButtonDelegate(QStyledItemDelegate):
    """Paints a push button in the Action column of unacknowledged rows; a click on it
    emits `button_clicked` (with the view's index) without changing the selection."""

    button_clicked = Signal(QPersistentModelIndex)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pressed: QPersistentModelIndex | None = None

    @staticmethod
    def button_rect(option_rect: QRect) -> QRect:
        return option_rect.adjusted(BUTTON_MARGIN_PX, BUTTON_MARGIN_PX - 1,
                                    -BUTTON_MARGIN_PX, -BUTTON_MARGIN_PX + 1)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        text = index.data(Qt.ItemDataRole.DisplayRole)
        plain = QStyleOptionViewItem(option)
        self.initStyleOption(plain, index)
        plain.text = ""
        widget = option.widget
        style = widget.style() if widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, plain, painter, widget)
        if not text:
            return
        button = QStyleOptionButton()
        button.rect = self.button_rect(option.rect)
        button.text = text
        button.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Raised
        if self._pressed is not None and QModelIndex(self._pressed) == index:
            button.state |= QStyle.StateFlag.State_Sunken
        if option.state & QStyle.StateFlag.State_MouseOver:
            button.state |= QStyle.StateFlag.State_MouseOver
        style.drawControl(QStyle.ControlElement.CE_PushButton, button, painter, widget)

    def sizeHint(self, option: QStyleOptionViewItem,  # noqa: N802
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        metrics = option.fontMetrics
        return QSize(metrics.horizontalAdvance(ACKNOWLEDGE_TEXT) + 28, metrics.height() + 12)

    def editorEvent(self, event: QEvent, model, option: QStyleOptionViewItem,  # noqa: N802
                    index: QModelIndex | QPersistentModelIndex) -> bool:
        if not index.data(Qt.ItemDataRole.DisplayRole):
            return False
        kind = event.type()
        if kind not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease,
                        QEvent.Type.MouseButtonDblClick):
            return False
        inside = self.button_rect(option.rect).contains(event.position().toPoint())
        if kind == QEvent.Type.MouseButtonPress and inside:
            self._pressed = QPersistentModelIndex(index)
            return True
        if kind == QEvent.Type.MouseButtonRelease:
            pressed, self._pressed = self._pressed, None
            if inside and pressed is not None and QModelIndex(pressed) == index:
                self.button_clicked.emit(QPersistentModelIndex(index))
                return True
        return inside  # a double-click on the button is two clicks, not a third gesture


class NoticeBanner(QFrame):
    """An inline message above the table that stays until closed, replaced, or its
    cause goes away (`clear(cause)`: e.g. the database answers again)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alert_notice")
        self.cause = ""  # what the shown text is about; "" for none in particular
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.hide()

    def clear(self, cause: str) -> None:
        """Hide the banner if it is about `cause`."""
        if cause and self.cause == cause and not self.isHidden():
            self.hide()

    def show_text(self, text: str, level: str = "error", cause: str = "") -> None:
        self.cause = cause
        background, foreground = NOTICE_COLORS.get(level, NOTICE_COLORS["info"])
        self.setStyleSheet(f"QFrame#alert_notice {{ background: {background}; "
                           f"border: 1px solid {foreground}; border-radius: 4px; }} "
                           f"QFrame#alert_notice QLabel, QFrame#alert_notice QToolButton "
                           f"{{ color: {foreground}; }}")
        self.label.setText(text)
        self.show()
