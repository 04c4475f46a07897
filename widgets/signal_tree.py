"""A searchable, checkable tree of signals: robot > measurement > field/series.

Hundreds of signals (16 servos x 4 fields per robot) do not fit a flat list; grouped
and filtered, an operator finds "servo 3 temperature" by typing it.  The tree holds
opaque keys; what they mean is the page's business.  Filtering hides rows but never
unchecks them: what is checked is what will be queried.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QTreeWidgetItemIterator,
    QVBoxLayout,
    QWidget,
)

from widgets.palette import FIRST_OWN_ROLE, ID_ROLE

logger = logging.getLogger(__name__)

KEY_ROLE = ID_ROLE
SEARCH_ROLE = FIRST_OWN_ROLE


@dataclass(frozen=True)
class SignalEntry:
    robot: str
    group: str  # the measurement
    label: str  # the field, with its series (servo 3) if any
    key: Hashable
    tooltip: str = ""


class SignalTree(QWidget):
    """set_entries / checked_keys / set_checked / set_filter; emits checks_changed."""

    checks_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter signals, e.g. 02 servo 3 temp")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._on_filter_edited)
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        # Full names over clipped ones: the column grows and the tree scrolls sideways.
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(False)
        self.tree.itemChanged.connect(self._on_item_changed)
        self._leaves: dict[Hashable, QTreeWidgetItem] = {}
        self._quiet = False  # True while we change checks ourselves: one signal at the end
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.tree, 1)

    # -- content ----------------------------------------------------------------------
    def set_entries(self, entries: Iterable[SignalEntry]) -> None:
        """Replace the tree's content; keys checked before stay checked if still there."""
        checked = set(self.checked_keys())
        self._quiet = True
        try:
            self.tree.clear()
            self._leaves.clear()
            robots: dict[str, QTreeWidgetItem] = {}
            groups: dict[tuple[str, str], QTreeWidgetItem] = {}
            for entry in entries:
                robot = robots.get(entry.robot)
                if robot is None:
                    robot = robots[entry.robot] = self._parent_item(self.tree, entry.robot)
                    robot.setExpanded(True)
                group = groups.get((entry.robot, entry.group))
                if group is None:
                    group = groups[(entry.robot, entry.group)] = self._parent_item(
                        robot, entry.group)
                leaf = QTreeWidgetItem(group, [entry.label])
                leaf.setFlags(leaf.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                leaf.setData(0, KEY_ROLE, entry.key)
                leaf.setData(0, SEARCH_ROLE,
                             f"{entry.robot} {entry.group} {entry.label}".lower())
                leaf.setToolTip(0, entry.tooltip or f"{entry.robot} {entry.group} {entry.label}")
                leaf.setCheckState(0, Qt.CheckState.Checked if entry.key in checked
                                   else Qt.CheckState.Unchecked)
                self._leaves[entry.key] = leaf
        finally:
            self._quiet = False
        self._apply_filter()
        if checked != set(self.checked_keys()):
            self.checks_changed.emit()

    @staticmethod
    def _parent_item(parent: QTreeWidget | QTreeWidgetItem, text: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(parent, [text])
        # Checking a robot or measurement checks everything under it (and shows partial).
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable
                      | Qt.ItemFlag.ItemIsAutoTristate)
        item.setCheckState(0, Qt.CheckState.Unchecked)
        item.setToolTip(0, text)
        return item

    def keys(self) -> list[Hashable]:
        return list(self._leaves)

    def checked_keys(self) -> list[Hashable]:
        return [key for key, leaf in self._leaves.items()
                if leaf.checkState(0) == Qt.CheckState.Checked]

    def set_checked(self, keys: Iterable[Hashable]) -> None:
        wanted = set(keys)
        before = set(self.checked_keys())
        self._quiet = True
        try:
            for key, leaf in self._leaves.items():
                leaf.setCheckState(0, Qt.CheckState.Checked if key in wanted
                                   else Qt.CheckState.Unchecked)
        finally:
            self._quiet = False
        if before != set(self.checked_keys()):
            self.checks_changed.emit()

    def leaf_text(self, key: Hashable) -> str:
        return self._leaves[key].text(0)

    def leaf_tooltip(self, key: Hashable) -> str:
        return self._leaves[key].toolTip(0)

    # -- filtering --------------------------------------------------------------------
    def set_filter(self, text: str) -> None:
        self.filter_edit.setText(text)

    def visible_keys(self) -> list[Hashable]:
        return [key for key, leaf in self._leaves.items() if not leaf.isHidden()]

    def _on_filter_edited(self, _text: str) -> None:
        self._apply_filter()

    def _apply_filter(self) -> None:
        """Every word must occur in "robot measurement label" (any order, any case)."""
        words = self.filter_edit.text().lower().split()
        iterator = QTreeWidgetItemIterator(self.tree)
        parents: list[QTreeWidgetItem] = []
        while iterator.value() is not None:
            item = iterator.value()
            if item.childCount():
                parents.append(item)
            else:
                text = item.data(0, SEARCH_ROLE) or ""
                item.setHidden(not all(word in text for word in words))
            iterator += 1
        for item in reversed(parents):  # children before their parents
            shown = any(not item.child(i).isHidden() for i in range(item.childCount()))
            item.setHidden(not shown)
            if words and shown:
                item.setExpanded(True)

    def _on_item_changed(self, _item: QTreeWidgetItem, _column: int) -> None:
        if not self._quiet:
            self.checks_changed.emit()
