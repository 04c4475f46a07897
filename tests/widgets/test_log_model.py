"""LogTableModel: newest first, no duplicates, bounded."""

from datetime import UTC, datetime, timedelta

from widgets.log_model import Column, LogRow, LogTableModel

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def entry(log_id, seconds, level="INFO"):
    return LogRow(id=log_id, timestamp=T0 + timedelta(seconds=seconds), level=level,
                  category="robot", message=f"message {log_id}", robot_id="tonypi_a",
                  details={"n": log_id})


def test_append_newest_first_without_duplicates():
    model = LogTableModel()
    assert model.append([entry(1, 1), entry(2, 2)]) == 2
    assert model.append([entry(2, 2), entry(3, 3)]) == 1
    assert [r.id for r in model.rows()] == [3, 2, 1]
    assert model.data(model.index(0, Column.MESSAGE)) == "message 3"
    assert model.newest_id() == 3


def test_bounded_to_max_rows_dropping_the_oldest():
    model = LogTableModel(max_rows=3)
    model.append([entry(i, i) for i in range(5)])
    model.append([entry(9, 9)])
    assert [r.id for r in model.rows()] == [9, 4, 3]


def test_out_of_order_entry_lands_in_time_order():
    model = LogTableModel()
    model.append([entry(1, 10), entry(2, 30)])
    model.append([entry(3, 20)])
    assert [r.id for r in model.rows()] == [2, 3, 1]


def test_line_and_dict_forms():
    row = entry(7, 0, level="ERROR")
    assert row.as_line().split("\t")[:5] == [T0.isoformat(), "ERROR", "robot", "tonypi_a",
                                            "message 7"]
    assert row.as_dict()["details"] == {"n": 7}
