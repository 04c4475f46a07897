"""Fleet table: reasons column, threshold colouring, silent robots, empty state."""

from datetime import timedelta

from PySide6.QtCore import Qt

from services.live.fleet import FleetState
from services.live.health import Readings, Threshold, value_levels
from services.live.model import Health, KnownRobot
from tests.services.live.test_fleet import PERFORMANCE, own
from tests.widgets.support import NOW, NOW_S, snapshot
from widgets.fleet_model import Column, FleetTableModel
from widgets.fleet_view import FleetView
from widgets.status_badge import HEALTH_COLORS


def cell(model, row, column, role=Qt.ItemDataRole.DisplayRole):
    return model.data(model.index(row, column), role)


def test_reasons_column_says_why():
    model = FleetTableModel()
    model.set_snapshots([snapshot("a", health=Health.ERROR,
                                  reasons=("cpu 95.0 % >= 90", "battery 18.0 % <= 20")),
                         snapshot("b")], NOW)
    assert model.headerData(Column.REASONS, Qt.Orientation.Horizontal) == "Reasons"
    assert cell(model, 0, Column.REASONS) == "cpu 95.0 % >= 90; battery 18.0 % <= 20"
    assert cell(model, 1, Column.REASONS) == ""



def test_values_past_thresholds_are_tinted_with_per_robot_overrides():
    fleet = FleetState(clock=lambda: NOW_S)
    defaults = {"cpu": Threshold(70, 90), "battery": Threshold(20, 10, low_is_bad=True)}
    # strict robot: cpu warns from 50
    fleet.set_thresholds(defaults, {"strict": {**defaults, "cpu": Threshold(50, 60)}})
    model = FleetTableModel()
    snaps = [snapshot(robot, cpu_percent=55.0, battery_percent=8.0,
                      levels=value_levels(Readings(cpu_percent=55.0, battery_percent=8.0),
                                          fleet.thresholds_for(robot)))
             for robot in ("lenient", "strict")]
    model.set_snapshots(snaps, NOW)
    lenient, strict = model.row_of("lenient"), model.row_of("strict")
    assert cell(model, lenient, Column.CPU, Qt.ItemDataRole.BackgroundRole) is None
    warn = cell(model, strict, Column.CPU, Qt.ItemDataRole.BackgroundRole)
    assert warn.rgb() & 0xFFFFFF == int(HEALTH_COLORS[Health.WARN][1:], 16)
    critical = cell(model, lenient, Column.BATTERY, Qt.ItemDataRole.BackgroundRole)
    assert critical.rgb() & 0xFFFFFF == int(HEALTH_COLORS[Health.ERROR][1:], 16)
    assert cell(model, strict, Column.CPU, Qt.ItemDataRole.FontRole).bold()


def test_fleet_state_levels_follow_the_robot_override():
    fleet = FleetState(clock=lambda: NOW_S)
    fleet.set_thresholds({"cpu": Threshold(70, 90)}, {"strict": {"cpu": Threshold(50, 60)}})
    for robot in ("lenient", "strict"):
        fleet.apply(own("performance", {**PERFORMANCE, "cpu_percent": 65.0}, NOW_S, robot))
    assert fleet.snapshot("lenient").levels == {}
    assert fleet.snapshot("strict").levels == {"cpu": Health.ERROR}
    assert fleet.snapshot("strict").reasons == ("cpu 65.0 % >= 60",)


def test_silent_robots_from_the_records_are_listed():
    fleet = FleetState(clock=lambda: NOW_S)
    fleet.apply_records([
        KnownRobot("gone", "gone", "offline", NOW - timedelta(hours=3), 2),
        KnownRobot("new", "new", "offline", None, 0)])
    gone, new = fleet.snapshot("gone"), fleet.snapshot("new")
    assert gone.health is Health.OFFLINE and gone.open_alerts == 2
    assert gone.reasons == ("no message for 3 h (per the records)",)
    assert new.health is Health.UNKNOWN and new.last_seen is None
    model = FleetTableModel()
    model.set_snapshots(fleet.snapshots(), NOW)
    row = model.row_of("gone")
    assert cell(model, row, Column.LAST_SEEN) == "3 h ago"
    assert cell(model, row, Column.ALERTS) == "0 · 2 open"
    assert cell(model, model.row_of("new"), Column.STATUS) == "UNKNOWN"


def test_empty_fleet_says_what_it_waits_for(qtbot):
    model = FleetTableModel()
    view = FleetView(model, broker="lab-server:1883")
    qtbot.addWidget(view)
    assert view.empty_text() == ("No robots yet: waiting for the first message on broker "
                                 "lab-server:1883")
    view.set_broker(None)
    assert view.empty_text().startswith("No robots yet: waiting for the first message")
    model.set_snapshots([snapshot("a")], NOW)
    assert view.empty_text() == ""
    view.filter_edit.setText("zzz")
    assert view.empty_text() == "No robot matches \u201czzz\u201d"
