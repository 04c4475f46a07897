from dataclasses import replace
from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon

from services.live.model import Health, JobProgress
from tests.widgets.support import NOW, snapshot, varied_fleet
from widgets.fleet_model import (
    HEALTH_ROLE,
    SORT_ROLE,
    Column,
    FleetTableModel,
    format_age,
    format_job,
)


class Recorder:
    """Every structural or data signal of a model, in order."""

    def __init__(self, model):
        self.events = []
        model.rowsInserted.connect(lambda _p, first, last: self.events.append(
            ("inserted", first, last)))
        model.rowsRemoved.connect(lambda _p, first, last: self.events.append(
            ("removed", first, last)))
        model.dataChanged.connect(lambda tl, br, _roles=(): self.events.append(
            ("changed", tl.row(), tl.column(), br.row(), br.column())))
        model.modelReset.connect(lambda: self.events.append(("reset",)))
        model.layoutChanged.connect(lambda *_: self.events.append(("layout",)))

    def take(self):
        events, self.events = self.events, []
        return events


def cell(model, row, column, role=Qt.ItemDataRole.DisplayRole):
    return model.data(model.index(row, column), role)


def test_new_robots_are_inserted_rows(qtmodeltester):
    model = FleetTableModel()
    recorder = Recorder(model)
    model.set_snapshots([snapshot("a"), snapshot("b")], NOW)
    assert recorder.take() == [("inserted", 0, 1)]
    model.set_snapshots([snapshot("a"), snapshot("b"), snapshot("c")], NOW)
    assert recorder.take() == [("inserted", 2, 2)]
    assert model.rowCount() == 3
    assert [model.robot_at(row).robot_id for row in range(3)] == ["a", "b", "c"]
    qtmodeltester.check(model)


def test_refresh_emits_data_changed_only_for_changed_rows():
    model = FleetTableModel()
    fleet = [snapshot(f"r{i}") for i in range(50)]
    model.set_snapshots(fleet, NOW)
    recorder = Recorder(model)

    model.set_snapshots(fleet, NOW)  # nothing changed
    assert recorder.take() == []

    fleet[17] = replace(fleet[17], battery_percent=55.0)
    fleet[30] = replace(fleet[30], health=Health.WARN, unacknowledged_alerts=2)
    model.set_snapshots(fleet, NOW)
    assert recorder.take() == [
        ("changed", 17, Column.BATTERY, 17, Column.BATTERY),
        ("changed", 30, Column.STATUS, 30, Column.ALERTS),
    ]
    assert cell(model, 17, Column.BATTERY) == "55"


def test_changes_below_display_precision_are_not_repainted():
    model = FleetTableModel()
    model.set_snapshots([snapshot("a", cpu_percent=25.1)], NOW)
    recorder = Recorder(model)
    model.set_snapshots([snapshot("a", cpu_percent=25.3)], NOW + timedelta(milliseconds=300))
    assert recorder.take() == []
    assert model.robot_at(0).cpu_percent == 25.3  # the tooltip side sees the newest value


def test_time_passing_updates_last_seen_only():
    model = FleetTableModel()
    fleet = [snapshot("a"), snapshot("b", last_seen=None)]
    model.set_snapshots(fleet, NOW)
    assert cell(model, 0, Column.LAST_SEEN) == "2 s ago"
    assert cell(model, 1, Column.LAST_SEEN) == "never"
    recorder = Recorder(model)
    model.set_snapshots(fleet, NOW + timedelta(seconds=5))
    assert recorder.take() == [("changed", 0, Column.LAST_SEEN, 0, Column.LAST_SEEN)]
    assert cell(model, 0, Column.LAST_SEEN) == "7 s ago"
    tooltip = cell(model, 0, Column.LAST_SEEN, Qt.ItemDataRole.ToolTipRole)
    assert tooltip == "2026-11-22 10:14:58.000 UTC"


def test_robots_no_longer_listed_are_removed():
    model = FleetTableModel()
    model.set_snapshots([snapshot("a"), snapshot("b"), snapshot("c")], NOW)
    recorder = Recorder(model)
    model.set_snapshots([snapshot("a"), snapshot("c")], NOW)
    assert recorder.take() == [("removed", 1, 1)]
    assert model.robot_ids() == ["a", "c"]
    assert model.row_of("c") == 1


def test_cells_show_what_an_operator_reads():
    model = FleetTableModel()
    model.set_snapshots(varied_fleet(), NOW)
    row = model.row_of("tonypi_02")
    assert cell(model, row, Column.STATUS) == "WARN"
    assert cell(model, row, Column.STATUS, HEALTH_ROLE) == Health.WARN
    assert isinstance(cell(model, row, Column.STATUS, Qt.ItemDataRole.DecorationRole), QIcon)
    assert "servo_7 63.5 °C > 60" in cell(model, row, Column.STATUS, Qt.ItemDataRole.ToolTipRole)
    assert cell(model, row, Column.HOTTEST_SERVO) == "servo_7 63.5 °C"
    assert cell(model, row, Column.ALERTS) == "1"
    row = model.row_of("tonypi_01")
    assert cell(model, row, Column.JOB) == "Sort parcels 3/10 30%"
    assert cell(model, row, Column.BATTERY) == "80"
    assert cell(model, row, Column.CPU_TEMP) == "50.0"
    assert cell(model, row, Column.BATTERY, Qt.ItemDataRole.ToolTipRole) == "11.80 V"
    row = model.row_of("tonypi_04")
    assert cell(model, row, Column.BATTERY) == "–"
    assert cell(model, row, Column.BATTERY, SORT_ROLE) is None
    assert "legacy" in cell(model, row, Column.ROBOT, Qt.ItemDataRole.ToolTipRole)
    assert model.headerData(Column.CPU_TEMP, Qt.Orientation.Horizontal) == "CPU temp °C"


def test_sort_role_holds_numbers():
    model = FleetTableModel()
    model.set_snapshots([snapshot("a", battery_percent=9.4, unacknowledged_alerts=12)], NOW)
    assert cell(model, 0, Column.BATTERY, SORT_ROLE) == 9.0
    assert cell(model, 0, Column.ALERTS, SORT_ROLE) == 12
    assert cell(model, 0, Column.LAST_SEEN, SORT_ROLE) == 2
    assert cell(model, 0, Column.STATUS, SORT_ROLE) == int(Health.OK)


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "never"), (-3.0, "just now"), (0.4, "just now"), (12.9, "12 s ago"),
    (61, "1 min ago"), (7200, "2 h ago"), (3 * 86400 + 5, "3 d ago")])
def test_format_age(seconds, text):
    assert format_age(seconds) == text


def test_format_job():
    assert format_job(JobProgress("Sort parcels", "active", 3, 10, None)) == "Sort parcels 3/10 30%"
    assert format_job(JobProgress(None, "active", None, None, 12.0)) == "Job 12%"
    assert format_job(JobProgress("Patrol", "failed", 2, 5, 40.0)) == "Patrol failed"
    assert format_job(None) == ""


def test_robot_at_out_of_range():
    with pytest.raises(IndexError):
        FleetTableModel().robot_at(0)
