from dataclasses import replace

import pytest
from PySide6.QtCore import Qt

from tests.widgets.support import NOW, snapshot, varied_fleet
from widgets.fleet_model import Column, FleetTableModel
from widgets.fleet_view import FILTER_PLACEHOLDER, FleetView


@pytest.fixture
def view(qtbot):
    model = FleetTableModel()
    model.set_snapshots(varied_fleet(), NOW)
    widget = FleetView(model)
    qtbot.addWidget(widget)
    widget.resize(1100, 400)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def shown_ids(view) -> list[str]:
    proxy = view.proxy()
    return [proxy.index(row, Column.ROBOT).data() for row in range(proxy.rowCount())]


def shown(view, column) -> list[str]:
    proxy = view.proxy()
    return [proxy.index(row, column).data() for row in range(proxy.rowCount())]


def test_numbers_sort_as_numbers_with_unknown_last(qtbot):
    model = FleetTableModel()
    model.set_snapshots([snapshot("a", battery_percent=9.0), snapshot("b", battery_percent=100.0),
                         snapshot("c", battery_percent=None), snapshot("d", battery_percent=20.4)],
                        NOW)
    view = FleetView(model)
    qtbot.addWidget(view)
    view.table.sortByColumn(Column.BATTERY, Qt.SortOrder.AscendingOrder)
    assert shown(view, Column.BATTERY) == ["9", "20", "100", "–"]
    view.table.sortByColumn(Column.BATTERY, Qt.SortOrder.DescendingOrder)
    assert shown(view, Column.BATTERY) == ["100", "20", "9", "–"]


def test_rows_move_when_values_change_and_selection_survives(view):
    view.table.sortByColumn(Column.ALERTS, Qt.SortOrder.DescendingOrder)
    assert shown_ids(view)[0] == "tonypi_03"  # 3 alerts
    view.select_robots(["tonypi_02"])
    fleet = [replace(s, unacknowledged_alerts=9) if s.robot_id == "tonypi_01" else s
             for s in varied_fleet()]
    view.model().set_snapshots(fleet, NOW)
    assert shown_ids(view)[0] == "tonypi_01"
    assert view.selected_robots() == ["tonypi_02"]


def test_filter_box_matches_robot_id_and_status_ignoring_case(view, qtbot):
    assert view.filter_edit.placeholderText() == FILTER_PLACEHOLDER == "Filter robots..."
    qtbot.keyClicks(view.filter_edit, "wArN")
    assert shown_ids(view) == ["tonypi_02"]
    view.filter_edit.clear()
    qtbot.keyClicks(view.filter_edit, "TONYPI_0")
    assert sorted(shown_ids(view)) == [f"tonypi_0{i}" for i in range(1, 6)]
    view.filter_edit.setText("offline")
    assert shown_ids(view) == ["tonypi_05"]
    view.filter_edit.clear()
    assert len(shown_ids(view)) == 6


def test_double_click_opens_the_robot(view, qtbot):
    row = shown_ids(view).index("tonypi_03")
    index = view.proxy().index(row, Column.CPU)
    position = view.table.visualRect(index).center()
    with qtbot.assertNotEmitted(view.robot_opened):  # a click only selects
        qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=position)
    assert view.selected_robots() == ["tonypi_03"]
    with qtbot.waitSignal(view.robot_opened, timeout=1000) as opened:
        # A real double click: press/release, then the double-click event.
        qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=position)
        qtbot.mouseDClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=position)
    assert opened.args == ["tonypi_03"]


def test_enter_opens_the_current_robot(view, qtbot):
    row = shown_ids(view).index("legacy_bot")
    view.table.setCurrentIndex(view.proxy().index(row, 0))
    with qtbot.waitSignal(view.robot_opened, timeout=1000) as opened:
        qtbot.keyClick(view.table, Qt.Key.Key_Return)
    assert opened.args == ["legacy_bot"]


def test_selected_robots_in_view_order(view, qtbot):
    ids = shown_ids(view)
    view.table.selectRow(ids.index("tonypi_04"))
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.ControlModifier,
                     view.table.visualRect(view.proxy().index(ids.index("tonypi_01"), 0)).center())
    assert view.selected_robots() == ["tonypi_01", "tonypi_04"]
    assert view.table.isSortingEnabled()
    assert view.table.alternatingRowColors()
