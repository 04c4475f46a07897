"""The fleet overview: a filter box over a sortable table of a FleetTableModel."""

from __future__ import annotations

import logging

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRectF,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QIcon, QKeyEvent, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from services.live.model import Health
from widgets.fleet_model import HEALTH_ROLE, ROBOT_ID_ROLE, SORT_ROLE, Column, FleetTableModel
from widgets.status_badge import badge_size, paint_badge

logger = logging.getLogger(__name__)

FILTER_PLACEHOLDER = "Filter robots..."
EMPTY_TEXT = "No robots yet: waiting for the first message from the broker"
EMPTY_TEXT_WITH_BROKER = "No robots yet: waiting for the first message on broker {broker}"
NO_MATCH_TEXT = "No robot matches \u201c{needle}\u201d"
ROW_PADDING_PX = 10
CELL_PADDING_PX = 28
CELL_MARGIN_PX = 8
# Widest text each column is sized for (its header may be wider), so widths do not
# depend on the first robots that happen to arrive.
COLUMN_SAMPLE_TEXT: dict[Column, str] = {
    Column.ROBOT: "tonypi_raspberrypi_01",  # real ids: tonypi_<hostname>
    Column.STATUS: "UNKNOWN__",
    Column.REASONS: "servo_11 62.3 °C >= 60; cpu 72.0 % >= 70",
    Column.BATTERY: "100",
    Column.CPU: "100",
    Column.CPU_TEMP: "100.0",
    Column.HOTTEST_SERVO: "servo_16 100.0 °C",
    Column.JOB: "Sort parcels 10/10 100%",
    Column.ALERTS: "99 · 99 open",
    Column.LAST_SEEN: "59 min ago",
}


class FleetProxyModel(QSortFilterProxyModel):
    """Sorts on SORT_ROLE with unknown values (None) last in both directions, and filters
    case-insensitively on robot id and status text."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)  # rows move as their values change
        self._needle = ""

    def set_filter_text(self, text: str) -> None:
        needle = text.strip().casefold()
        if needle == self._needle:
            return
        self.beginFilterChange()  # Qt 6.10 API; invalidateFilter() is deprecated there
        self._needle = needle
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filter_text(self) -> str:
        return self._needle

    def filterAcceptsRow(self, source_row: int,
                         source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        if not self._needle:
            return True
        model = self.sourceModel()
        robot_id = model.index(source_row, Column.ROBOT, source_parent).data() or ""
        status = model.index(source_row, Column.STATUS, source_parent).data() or ""
        return self._needle in robot_id.casefold() or self._needle in status.casefold()

    def lessThan(self, left: QModelIndex | QPersistentModelIndex,
                 right: QModelIndex | QPersistentModelIndex) -> bool:
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if a is None or b is None:
            # Qt sorts descending by asking lessThan(b, a); answering by the sort order
            # keeps unknown values at the bottom either way.
            if a is None and b is None:
                return False
            ascending = self.sortOrder() == Qt.SortOrder.AscendingOrder
            return ascending if b is None else not ascending
        try:
            return a < b
        except TypeError:  # mixed types cannot happen per column; fall back to text
            return str(a) < str(b)


class HealthBadgeDelegate(QStyledItemDelegate):
    """Paints the Status column as a coloured pill (selection background still drawn)."""

    def paint(self, painter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        health = index.data(HEALTH_ROLE)
        if health is None:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        opt.icon = QIcon()  # the dot icon is for plain views; the pill replaces it
        opt.features &= ~QStyleOptionViewItem.ViewItemFeature.HasDecoration
        style = opt.widget.style() if opt.widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        rect = QRectF(option.rect).adjusted(6, 3, -6, -3)
        paint_badge(painter, rect, Health(health), option.font)

    def sizeHint(self, option: QStyleOptionViewItem,
                 index: QModelIndex | QPersistentModelIndex):
        size = super().sizeHint(option, index)
        health = index.data(HEALTH_ROLE)
        if health is not None:
            badge = badge_size(option.font, Health(health))
            size.setWidth(max(size.width(), badge.width() + 12))
            size.setHeight(max(size.height(), badge.height() + 6))
        return size


class FleetView(QWidget):
    """Filter box + table.  Emits `robot_opened(robot_id)` on double-click or Enter.

    With no row to show, the table says why (no robot yet, naming `broker` "host:port"
    when given, or none matching the filter) instead of staying blank.
    """

    robot_opened = Signal(str)

    def __init__(self, model: FleetTableModel, parent: QWidget | None = None,
                 broker: str | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._broker = broker
        self._proxy = FleetProxyModel(self)
        self._proxy.setSourceModel(model)

        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText(FILTER_PLACEHOLDER)
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setAccessibleName("Filter robots")
        self.filter_edit.textChanged.connect(self._on_filter_text_changed)

        self.table = QTableView(self)
        self.table.setModel(self._proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(Column.ROBOT, Qt.SortOrder.AscendingOrder)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.verticalHeader().setVisible(False)
        # Room between a right-aligned number and the next column's text; colours stay
        # the palette's (the sheet sets spacing only).
        self.table.setStyleSheet(
            f"QTableView::item {{ padding-left: {CELL_MARGIN_PX}px;"
            f" padding-right: {CELL_MARGIN_PX}px; }}")
        self.table.horizontalHeader().setStyleSheet(
            f"QHeaderView::section {{ padding-left: {CELL_MARGIN_PX}px;"
            f" padding-right: {CELL_MARGIN_PX}px; }}")
        self.table.setItemDelegateForColumn(Column.STATUS, HealthBadgeDelegate(self.table))
        self.table.doubleClicked.connect(self._on_row_double_clicked)
        self.table.installEventFilter(self)
        self._size_columns()

        # On the viewport, below the header: the columns stay visible and explained.
        self.empty_label = QLabel(self.table.viewport())
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.empty_label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.table.viewport().installEventFilter(self)
        for signal in (self._proxy.rowsInserted, self._proxy.rowsRemoved,
                       self._proxy.modelReset, self._proxy.layoutChanged):
            signal.connect(self._on_rows_changed)
        self._update_empty_state()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.table)

    def _size_columns(self) -> None:
        # Fixed widths from font metrics rather than ResizeToContents, which would
        # measure every row on every refresh (25 Hz).
        metrics = self.table.fontMetrics()
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header_metrics = header.fontMetrics()
        for column, sample in COLUMN_SAMPLE_TEXT.items():
            width = max(metrics.horizontalAdvance(sample),
                        header_metrics.horizontalAdvance(self._model.headerData(
                            column, Qt.Orientation.Horizontal)) + 16)  # + sort arrow
            header.resizeSection(column, width + CELL_PADDING_PX)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # The reasons are what an operator reads first after the badge: they get the room.
        header.setSectionResizeMode(Column.REASONS, QHeaderView.ResizeMode.Stretch)
        row_height = max(metrics.height() + ROW_PADDING_PX,
                         badge_size(self.table.font(), Health.OFFLINE).height() + 8)
        self.table.verticalHeader().setDefaultSectionSize(row_height)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)

    # --- public API -------------------------------------------------------------------

    def model(self) -> FleetTableModel:
        return self._model

    def proxy(self) -> FleetProxyModel:
        return self._proxy

    def set_broker(self, broker: str | None) -> None:
        """Name the broker ("host:port") the empty table says it is waiting on."""
        self._broker = broker
        self._update_empty_state()

    def empty_text(self) -> str:
        """What the table says while it shows no row ("" when it shows rows)."""
        return self.empty_label.text() if not self.empty_label.isHidden() else ""

    def selected_robots(self) -> list[str]:
        """Robot ids of the selected rows, in the order shown."""
        rows = sorted(self.table.selectionModel().selectedRows(), key=QModelIndex.row)
        return [index.data(ROBOT_ID_ROLE) for index in rows]

    def select_robots(self, robot_ids: list[str]) -> None:
        """Select the rows of these robots (e.g. restoring a saved selection)."""
        wanted = set(robot_ids)
        selection = self.table.selectionModel()
        selection.clearSelection()
        flags = (selection.SelectionFlag.Select | selection.SelectionFlag.Rows)
        for row in range(self._proxy.rowCount()):
            index = self._proxy.index(row, Column.ROBOT)
            if index.data(ROBOT_ID_ROLE) in wanted:
                selection.select(index, flags)

    # --- handlers ---------------------------------------------------------------------

    def _on_filter_text_changed(self, text: str) -> None:
        self._proxy.set_filter_text(text)
        self._update_empty_state()

    def _on_rows_changed(self, *_args) -> None:
        self._update_empty_state()

    def _update_empty_state(self) -> None:
        if self._proxy.rowCount():
            self.empty_label.hide()
            return
        if self._model.rowCount():
            text = NO_MATCH_TEXT.format(needle=self.filter_edit.text().strip())
        elif self._broker:
            text = EMPTY_TEXT_WITH_BROKER.format(broker=self._broker)
        else:
            text = EMPTY_TEXT
        self.empty_label.setText(text)
        self.empty_label.setGeometry(self.table.viewport().rect())
        self.empty_label.show()

    def _on_row_double_clicked(self, index: QModelIndex) -> None:
        self._open(index)

    def _open(self, index: QModelIndex) -> None:
        robot_id = index.data(ROBOT_ID_ROLE) if index.isValid() else None
        if robot_id:
            logger.debug("robot opened: %s", robot_id)
            self.robot_opened.emit(robot_id)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table.viewport() and event.type() == QEvent.Type.Resize:
            self.empty_label.setGeometry(self.table.viewport().rect())
        # Enter opens the current robot.  QTableView.activated is not used: some styles
        # activate on single click, which would open pages while merely selecting.
        if (watched is self.table and event.type() == QEvent.Type.KeyPress
                and isinstance(event, QKeyEvent)
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)):
            self._open(self.table.currentIndex())
            return True
        return super().eventFilter(watched, event)
