"""The alerts table: filters, acknowledge gestures, a notice banner and the details pane.

It only asks: every gesture becomes a signal (acknowledge_requested, resolve_requested,
details_requested) and the application decides, so the service can refuse and the view
shows why (`show_notice`).  Acknowledge by one click (the row's button or a
double-click) needs no dialog; the context menu and "Acknowledge selected" ask for an
optional comment first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMenu,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from widgets.alert_details import AlertDetails
from widgets.alert_model import (
    ACKNOWLEDGE_TEXT,
    ALERT_ID_ROLE,
    ROW_ROLE,
    AlertRow,
    AlertTableModel,
    Column,
)
from widgets.alert_view_parts import (
    ALL_ROBOTS,
    SEVERITY_CHOICES,
    STATE_CHOICES,
    TIME_FILTER_REFRESH_MS,
    TIME_RANGES_S,
    AcknowledgeButtonDelegate,
    AlertFilterProxy,
    NoticeBanner,
)

logger = logging.getLogger(__name__)

COLUMN_SAMPLE_TEXT = {
    Column.SEVERITY: "Critical__", Column.ROBOT: "tonypi_raspberrypi_01",
    Column.TYPE: "temperature", Column.SOURCE: "cpu_temperature",
    Column.VALUE: "100.0 / 100 °C", Column.RAISED: "Nov 22 10:15 CEST",
    Column.STATE: "Cleared, unacknowledged",
    Column.ACKNOWLEDGED: "operator_01 at 10:15:03 CEST",
}

RESOLVE_CAUSE = "resolve"  # the notice cause the page uses for resolve outcomes too
# What a manual resolve does while the condition still holds (services.alerts.engine.hold).
RESOLVE_HELP = ("Closes the alert now. If its condition still holds, no new alert is "
                "raised for it until the value is back in range; a warning that turns "
                "critical still raises one.")

# (parent, title, label) -> text, or None when the operator cancelled.
TextPrompt = Callable[[QWidget, str, str], "str | None"]


def ask_text(parent: QWidget, title: str, label: str) -> str | None:
    text, accepted = QInputDialog.getText(parent, title, label)
    return text.strip() if accepted else None


class AlertView(QWidget):
    acknowledge_requested = Signal(list, str)  # alert ids, comment ("" for none)
    resolve_requested = Signal(int, str)  # alert id, reason
    details_requested = Signal(int)

    def __init__(self, model: AlertTableModel, parent: QWidget | None = None, *,
                 prompt: TextPrompt = ask_text, clock: Callable[[], float] = time.time) -> None:
        super().__init__(parent)
        self.model = model
        self.prompt = prompt  # replaceable: tests answer without a modal dialog
        self.proxy = AlertFilterProxy(self, clock=clock)
        self.proxy.setSourceModel(model)
        self.notice = NoticeBanner()
        self.table = self._build_table()
        self.details = AlertDetails()
        self._build_filters()

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.filter_bar)
        layout.addWidget(self.notice)
        layout.addWidget(splitter, 1)

        model.rowsInserted.connect(self._on_model_changed)
        model.dataChanged.connect(self._on_model_data_changed)
        self.proxy.rowsInserted.connect(self._update_summary)
        self.proxy.rowsRemoved.connect(self._update_summary)
        self.proxy.modelReset.connect(self._update_summary)
        self._time_timer = QTimer(self)
        self._time_timer.setInterval(TIME_FILTER_REFRESH_MS)
        self._time_timer.timeout.connect(self._on_time_ticked)
        self._time_timer.start()
        self._on_model_changed()

    # -- building --------------------------------------------------------------------
    def _build_table(self) -> QTableView:
        table = QTableView()
        table.setObjectName("alert_table")
        table.setModel(self.proxy)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSortingEnabled(True)
        table.sortByColumn(Column.RAISED, Qt.SortOrder.DescendingOrder)
        table.verticalHeader().hide()
        table.setWordWrap(False)
        table.setMouseTracking(True)  # hover look of the row buttons
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(self._on_context_menu_requested)
        table.doubleClicked.connect(self._on_row_double_clicked)
        self.button_delegate = AcknowledgeButtonDelegate(table)
        self.button_delegate.button_clicked.connect(self._on_row_button_clicked)
        table.setItemDelegateForColumn(Column.ACTION, self.button_delegate)
        bold = table.font()
        bold.setBold(True)  # unacknowledged rows are bold: size for them
        metrics = QFontMetrics(bold)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setHighlightSections(False)
        for column, sample in COLUMN_SAMPLE_TEXT.items():
            width = max(metrics.horizontalAdvance(sample),
                        metrics.horizontalAdvance(self.model.headerData(
                            column, Qt.Orientation.Horizontal)) + 20) + 24
            table.setColumnWidth(column, width)
        table.setColumnWidth(Column.ACTION, metrics.horizontalAdvance(ACKNOWLEDGE_TEXT) + 36)
        header.setSectionResizeMode(Column.ACKNOWLEDGED, QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().setDefaultSectionSize(metrics.height() + 14)
        table.selectionModel().currentRowChanged.connect(self._on_current_row_changed)
        table.selectionModel().selectionChanged.connect(self._update_buttons)
        return table

    def _build_filters(self) -> None:
        self.severity_filter = QComboBox()
        self.severity_filter.addItems(list(SEVERITY_CHOICES))
        self.robot_filter = QComboBox()
        self.robot_filter.addItem(ALL_ROBOTS)
        self.robot_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.state_filter = QComboBox()
        self.state_filter.addItems(list(STATE_CHOICES))
        self.time_filter = QComboBox()
        self.time_filter.addItems(list(TIME_RANGES_S))
        self.time_filter.setCurrentText("All times")
        for combo in (self.severity_filter, self.robot_filter, self.state_filter,
                      self.time_filter):
            combo.currentIndexChanged.connect(self._on_filters_changed)
        self.summary_label = QLabel()
        self.acknowledge_selected_button = QPushButton("Acknowledge selected...")
        self.acknowledge_selected_button.setToolTip(
            "Acknowledge every selected unacknowledged alert, with an optional comment")
        self.acknowledge_selected_button.clicked.connect(self._on_acknowledge_selected_clicked)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for widget in (self.severity_filter, self.robot_filter, self.state_filter,
                       self.time_filter):
            bar.addWidget(widget)
        bar.addSpacing(12)
        bar.addWidget(self.summary_label)
        bar.addStretch(1)
        bar.addWidget(self.acknowledge_selected_button)
        self.filter_bar = bar
        self._update_buttons()

    # -- public ----------------------------------------------------------------------
    def show_notice(self, text: str, level: str = "error", cause: str = "") -> None:
        """`cause` names what the notice is about, so clear_notice(cause) can take it
        away when that is over; a notice without one stays until dismissed."""
        self.notice.show_text(text, level, cause)

    def clear_notice(self, cause: str) -> None:
        self.notice.clear(cause)

    def notice_text(self) -> str:
        return "" if self.notice.isHidden() else self.notice.label.text()

    def notice_cause(self) -> str:
        return "" if self.notice.isHidden() else self.notice.cause

    def set_filters(self, *, severity: str | None = None, robot: str | None = None,
                    state: str = "All states", time_range: str = "All times") -> None:
        """Set the filter combos as an operator would (names as shown in them)."""
        self.severity_filter.setCurrentText(
            next((k for k, v in SEVERITY_CHOICES.items() if v == severity), "All severities"))
        if robot and self.robot_filter.findText(robot) < 0:
            self.robot_filter.addItem(robot)
        self.robot_filter.setCurrentText(robot or ALL_ROBOTS)
        self.state_filter.setCurrentText(state)
        self.time_filter.setCurrentText(time_range)

    def visible_ids(self) -> list[int]:
        return [self.proxy.index(r, 0).data(ALERT_ID_ROLE) for r in range(self.proxy.rowCount())]

    def view_index(self, alert_id: int, column: int = 0) -> QModelIndex:
        """The table's (proxy) index of an alert, invalid when it is filtered out."""
        row = self.model.row_of(alert_id)
        if row is None:
            return QModelIndex()
        source = self.model.index(row, column)
        return self.proxy.mapFromSource(source)

    def select_alerts(self, alert_ids: list[int]) -> None:
        selection = self.table.selectionModel()
        selection.clearSelection()
        flags = (QItemSelectionModel.SelectionFlag.Select
                 | QItemSelectionModel.SelectionFlag.Rows)
        for alert_id in alert_ids:
            index = self.view_index(alert_id)
            if index.isValid():
                selection.select(index, flags)
        if alert_ids:
            first = self.view_index(alert_ids[0])
            if first.isValid():
                selection.setCurrentIndex(first, QItemSelectionModel.SelectionFlag.NoUpdate)

    def selected_alerts(self) -> list[AlertRow]:
        rows = self.table.selectionModel().selectedRows()
        return [index.data(ROW_ROLE) for index in sorted(rows, key=lambda i: i.row())]

    def context_menu_for(self, index: QModelIndex) -> QMenu:
        """The menu for a right-click on `index`: it acts on the selection if the
        clicked row is part of it, otherwise on the clicked row alone."""
        row: AlertRow = index.data(ROW_ROLE)
        selected = self.selected_alerts()
        targets = selected if any(r.id == row.id for r in selected) else [row]
        menu = QMenu(self)
        acknowledge = QAction("Acknowledge...", menu)
        pending = [r.id for r in targets if not r.acknowledged]
        acknowledge.setEnabled(bool(pending))
        acknowledge.triggered.connect(lambda: self._ask_and_acknowledge(pending))
        resolve = QAction("Resolve...", menu)
        resolve.setEnabled(not row.resolved)
        resolve.setToolTip(RESOLVE_HELP)
        resolve.triggered.connect(lambda: self._ask_and_resolve(row.id))
        details = QAction("Details", menu)
        details.triggered.connect(lambda: self._show_details(row.id))
        for action in (acknowledge, resolve, details):
            menu.addAction(action)
        return menu

    # -- gestures --------------------------------------------------------------------
    def _on_row_button_clicked(self, index: QPersistentModelIndex) -> None:
        row: AlertRow = index.data(ROW_ROLE)
        if row is not None and not row.acknowledged:
            self.acknowledge_requested.emit([row.id], "")

    def _on_row_double_clicked(self, index: QModelIndex) -> None:
        if index.column() == Column.ACTION:
            return  # the button there already took the click
        row: AlertRow = index.data(ROW_ROLE)
        if not row.acknowledged:
            self.acknowledge_requested.emit([row.id], "")
        else:
            self._show_details(row.id)

    def _on_context_menu_requested(self, position: QPoint) -> None:
        index = self.table.indexAt(position)
        if index.isValid():
            self.context_menu_for(index).exec(self.table.viewport().mapToGlobal(position))

    def _on_acknowledge_selected_clicked(self) -> None:
        self._ask_and_acknowledge([r.id for r in self.selected_alerts() if not r.acknowledged])

    def _ask_and_acknowledge(self, alert_ids: list[int]) -> None:
        if not alert_ids:
            return
        what = "this alert" if len(alert_ids) == 1 else f"{len(alert_ids)} alerts"
        comment = self.prompt(self, "Acknowledge", f"Acknowledge {what}.\n"
                              "Comment (optional):")
        if comment is not None:
            self.acknowledge_requested.emit(list(alert_ids), comment)

    def _ask_and_resolve(self, alert_id: int) -> None:
        reason = self.prompt(self, "Resolve alert", f"Resolve alert #{alert_id} by hand.\n"
                             f"{RESOLVE_HELP}\nReason (required):")
        if reason is None:
            return
        if not reason:
            self.show_notice("Not resolved: a manual resolve needs a reason.", "warning",
                             RESOLVE_CAUSE)
            return
        self.clear_notice(RESOLVE_CAUSE)
        self.resolve_requested.emit(alert_id, reason)

    def _show_details(self, alert_id: int) -> None:
        index = self.view_index(alert_id)
        if index.isValid():
            self.table.selectionModel().setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows)
        row = self.model.alert(alert_id)
        if row is not None:
            self.details.set_alert(row)
        self.details_requested.emit(alert_id)

    # -- reactions -------------------------------------------------------------------
    def _on_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        row: AlertRow = current.data(ROW_ROLE)
        if self.details.alert() is None or self.details.alert().id != row.id:
            self.details.set_alert(row)
            self.details_requested.emit(row.id)

    def _on_model_changed(self, *_args: object) -> None:
        known = {self.robot_filter.itemText(i) for i in range(self.robot_filter.count())}
        for robot in self.model.robots():
            if robot not in known:
                self.robot_filter.addItem(robot)
        self._update_summary()

    def _on_model_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex,
                               *_roles: object) -> None:
        shown = self.details.alert()
        if shown is not None:
            row = self.model.alert(shown.id)
            if row is not None and row != shown and top_left.row() <= self.model.row_of(
                    shown.id) <= bottom_right.row():
                self.details.set_alert(row)
        # A state filter may now hide or show the row.
        self._update_summary()
        self._update_buttons()

    def _on_filters_changed(self, *_args: object) -> None:
        robot = self.robot_filter.currentText()
        self.proxy.set_filters(
            severity=SEVERITY_CHOICES.get(self.severity_filter.currentText()),
            robot=None if robot == ALL_ROBOTS else robot,
            states=STATE_CHOICES.get(self.state_filter.currentText()),
            max_age_s=TIME_RANGES_S.get(self.time_filter.currentText()))
        self._update_summary()

    def _on_time_ticked(self) -> None:
        if self.proxy.max_age_s is not None:
            self.proxy.refresh()

    def _update_summary(self, *_args: object) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        noun = "alert" if total == 1 else "alerts"
        self.summary_label.setText(f"{total} {noun}" if shown == total
                                   else f"{shown} of {total} {noun} shown")

    def _update_buttons(self, *_args: object) -> None:
        if not hasattr(self, "acknowledge_selected_button"):
            return
        pending = [r for r in self.selected_alerts() if not r.acknowledged]
        self.acknowledge_selected_button.setEnabled(bool(pending))
        self.acknowledge_selected_button.setText(
            f"Acknowledge {len(pending)} selected..." if len(pending) > 1
            else "Acknowledge selected...")
