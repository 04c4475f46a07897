"""AlertTableModel: newest first, in-place updates by id, merges, counts and cells."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QIcon

from tests.widgets.alert_support import NOW, acknowledged, alert, mixed_alerts
from widgets.alert_model import (
    ALERT_ID_ROLE,
    SORT_ROLE,
    STATE_ROLE,
    AlertTableModel,
    Column,
    format_time,
    format_value,
)


def ids(model: AlertTableModel) -> list[int]:
    return [model.index(r, 0).data(ALERT_ID_ROLE) for r in range(model.rowCount())]


def text(model: AlertTableModel, alert_id: int, column: Column) -> str:
    return model.index(model.row_of(alert_id), column).data(Qt.ItemDataRole.DisplayRole)


def test_rows_are_newest_first_whatever_order_they_arrive_in():
    model = AlertTableModel()
    rows = mixed_alerts()
    model.upsert([rows[3], rows[0]])
    model.upsert([rows[5], rows[1], rows[4], rows[2]])
    assert ids(model) == [1, 2, 3, 4, 5, 6]
    assert [model.row_of(i) for i in (1, 6)] == [0, 5]


def test_upsert_updates_a_row_in_place_and_reports_only_new_rows(qtbot):
    model = AlertTableModel()
    model.upsert(mixed_alerts())
    inserted, changed = [], []
    model.rowsInserted.connect(lambda *args: inserted.append(args))
    model.dataChanged.connect(lambda top, bottom, *_: changed.append((top.row(), bottom.row())))

    new = model.upsert([acknowledged(alert(2, minutes_ago=30, robot_id="tonypi_02",
                                           alert_type="battery", source="battery",
                                           severity="warning", title="Battery low",
                                           value=18.4, threshold=20.0))])
    assert new == [] and inserted == []
    assert changed == [(1, 1)]
    assert model.rowCount() == 6
    assert text(model, 2, Column.STATE) == "Active, acknowledged"
    assert text(model, 2, Column.ACKNOWLEDGED).startswith("alice at ")

    # The same row again changes nothing, so the view repaints nothing.
    model.upsert([model.alert(2)])
    assert changed == [(1, 1)]


def test_a_late_stale_copy_never_undoes_acknowledge_resolve_or_escalation():
    model = AlertTableModel()
    raised = alert(7, severity="warning", value=66.0, threshold=60.0)
    escalated = replace(raised, severity="critical", value=76.0, threshold=75.0)
    done = replace(acknowledged(escalated, by="carol"), resolved=True, resolved_at=NOW)
    model.upsert([done])
    model.upsert([raised])  # a database reload that read before the changes
    row = model.alert(7)
    assert (row.severity, row.value, row.acknowledged_by, row.resolved) == (
        "critical", 76.0, "carol", True)
    assert row.state == "cleared-acknowledged"


def test_counts_of_unacknowledged_alerts_by_severity_and_robot():
    model = AlertTableModel()
    assert model.counts_unacknowledged() == {"critical": 0, "warning": 0}
    model.upsert(mixed_alerts())
    # 1 and 6 critical unacknowledged; 2 and 4 (cleared, nobody looked) warning.
    assert model.counts_unacknowledged() == {"critical": 2, "warning": 2}
    assert model.unacknowledged_by_robot() == {"tonypi_01": 2, "tonypi_02": 1, "tonypi_03": 1}
    model.upsert([acknowledged(model.alert(1))])
    assert model.counts_unacknowledged() == {"critical": 1, "warning": 2}
    assert model.robots() == ["tonypi_01", "tonypi_02", "tonypi_03"]


def test_cells_show_value_against_threshold_state_and_severity():
    model = AlertTableModel()
    model.upsert(mixed_alerts())
    assert text(model, 1, Column.VALUE) == "76.2 / 75 °C"
    assert text(model, 2, Column.VALUE) == "18.4 / 20 %"
    assert text(model, 4, Column.VALUE) == "–"
    assert text(model, 1, Column.SEVERITY) == "Critical"
    assert text(model, 4, Column.STATE) == "Cleared, unacknowledged"
    assert text(model, 5, Column.ACKNOWLEDGED).startswith("bob at ")
    assert text(model, 1, Column.ACTION) == "Acknowledge"
    assert text(model, 3, Column.ACTION) == ""
    assert model.index(model.row_of(4), 0).data(STATE_ROLE) == "cleared-unacknowledged"

    icon = model.index(0, Column.SEVERITY).data(Qt.ItemDataRole.DecorationRole)
    assert isinstance(icon, QIcon) and not icon.isNull()
    critical = model.index(model.row_of(1), 0).data(Qt.ItemDataRole.BackgroundRole)
    warning = model.index(model.row_of(2), 0).data(Qt.ItemDataRole.BackgroundRole)
    assert isinstance(critical, QBrush) and critical.color().red() > critical.color().green()
    assert warning.color().name() != critical.color().name()
    assert model.index(model.row_of(3), 0).data(Qt.ItemDataRole.BackgroundRole) is None
    assert model.index(model.row_of(1), 0).data(Qt.ItemDataRole.FontRole).bold()
    assert "Servo 3 overheating" in model.index(0, 1).data(Qt.ItemDataRole.ToolTipRole)


def test_sort_values_order_severity_and_time_numerically():
    model = AlertTableModel()
    model.upsert(mixed_alerts())
    severity = [model.index(r, Column.SEVERITY).data(SORT_ROLE) for r in range(6)]
    assert severity == [2, 1, 1, 1, 2, 2]
    raised = [model.index(r, Column.RAISED).data(SORT_ROLE) for r in range(6)]
    assert raised == sorted(raised, reverse=True)


def test_format_value_trims_round_thresholds_only():
    row = alert(1, value=76.0, threshold=75.5)
    assert format_value(row) == "76.0 / 75.5 °C"
    assert format_value(replace(row, source="disk", value=95.25, threshold=95.0)) == "95.2 / 95 %"


def test_times_carry_their_zone_and_open_alerts_are_counted(monkeypatch):
    import time as clock
    from datetime import UTC, datetime

    monkeypatch.setenv("TZ", "Europe/Berlin")
    clock.tzset()
    try:
        at = datetime(2026, 11, 22, 9, 15, 3, tzinfo=UTC)
        assert format_time(at, now=at) == "10:15:03 CET"
        assert format_time(at, now=datetime(2026, 11, 25, tzinfo=UTC)) == "Nov 22 10:15 CET"
        assert format_time(None) == "–"
    finally:
        monkeypatch.undo()
        clock.tzset()
    model = AlertTableModel()
    model.upsert(mixed_alerts())
    assert model.open_count() == sum(1 for row in mixed_alerts() if not row.resolved)
