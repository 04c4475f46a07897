"""JobTableModel: in-place updates by id, progress and remaining-time arithmetic."""

from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QPersistentModelIndex, Qt

from widgets.job_model import PROGRESS_ROLE, Column, JobRow, JobTableModel

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def row(job_id, done=None, total=None, status="active", **kw):
    return JobRow(id=job_id, robot_id=f"r{job_id}", task_name="sort", status=status,
                  start_time=T0, items_done=done, items_total=total, **kw)


def text(model, position, column):
    return model.data(model.index(position, column))


def test_progress_elapsed_and_remaining():
    model = JobTableModel()
    model.set_rows([row(1, done=5, total=20)], now=T0 + timedelta(seconds=100))
    assert text(model, 0, Column.PROGRESS) == "5/20  25%"
    assert model.data(model.index(0, Column.PROGRESS), PROGRESS_ROLE) == (5, 20, 25.0)
    assert text(model, 0, Column.ELAPSED) == "1:40"
    assert text(model, 0, Column.REMAINING) == "5:00"  # 100 s * 15 / 5


def test_remaining_unknown_before_first_item_and_after_end():
    model = JobTableModel()
    ended = row(2, done=20, total=20, status="failed", end_time=T0 + timedelta(hours=2),
                reason="gripper jam")
    model.set_rows([row(1, done=0, total=20), ended], now=T0 + timedelta(hours=3))
    assert text(model, 0, Column.REMAINING) == ""
    assert text(model, 1, Column.REMAINING) == ""
    assert text(model, 1, Column.ELAPSED) == "2:00:00"
    assert text(model, 1, Column.OUTCOME) == "failed: gripper jam"
    assert model.data(model.index(1, Column.OUTCOME), Qt.ItemDataRole.ToolTipRole) == \
        "gripper jam"


def test_set_rows_updates_in_place_keeping_persistent_indexes():
    model = JobTableModel()
    model.set_rows([row(1, 1, 10), row(2, 1, 10)])
    kept = QPersistentModelIndex(model.index(1, 0))
    inserted = []
    model.rowsInserted.connect(lambda *_: inserted.append(1))
    model.set_rows([row(3, 0, 5), row(1, 2, 10), row(2, 9, 10)])
    assert [r.id for r in model.rows()] == [3, 1, 2]
    assert len(inserted) == 1
    assert kept.row() == 2 and model.row(kept.row()).items_done == 9
    model.set_rows([row(2, 10, 10)])
    assert [r.id for r in model.rows()] == [2]
