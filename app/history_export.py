"""Export of the History page: what is shown (the buckets on screen) or the shown range
at 1 s resolution ("raw"), to CSV or JSON.  A mixin of HistoryPage: it uses the page's
worker pool, relay, generation counter, status label and `export_finished` signal."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QProgressDialog

from app.history_tasks import Task
from services.export import ExportCancelled, ExportRow, rows_from_buckets, write_csv, write_json

logger = logging.getLogger(__name__)

RAW_RESOLUTION_S = 1  # "raw" export: 1 s buckets, the agents' fastest sampling period
RAW_MAX_POINTS = 3_000_000  # per signal: 30 days at 1 s, bounds memory of one export
PROGRESS_DELAY_MS = 300  # a quick export never flashes a dialog


class HistoryExportMixin:
    _export_job: tuple[int, str, threading.Event, QProgressDialog] | None = None

    def _on_export_clicked(self, raw: bool, fmt: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export history", f"history.{fmt}",
                                              f"{fmt.upper()} (*.{fmt})")
        if path:
            (self.export_raw if raw else self.export_shown)(path, fmt)

    def _metadata(self, start: datetime, stop: datetime, resolution: str) -> dict[str, Any]:
        return {"start": start, "stop": stop, "resolution": resolution,
                "signals": sorted(self._shown.buckets) if self._shown else []}

    def export_shown(self, path: str, fmt: str) -> int:
        """Write exactly the buckets on screen; small, so done on the GUI thread."""
        if self._shown is None:
            self.status.setText("Nothing shown to export.")
            return 0
        rows = [row for robot, key, buckets in self._shown.buckets.values()
                for row in rows_from_buckets(robot, key.measurement, key.field, key.series,
                                             buckets)]
        meta = self._metadata(self._shown.start, self._shown.stop, "shown")
        written = (write_csv(path, rows) if fmt == "csv"
                   else write_json(path, rows, metadata=meta))
        self.status.setText(f"Exported {written} rows to {path}")
        self.export_finished.emit(path, written)
        return written

    def export_raw(self, path: str, fmt: str) -> int:
        """Query the shown range at 1 s buckets and write it in a worker with a progress
        dialog; returns the task's generation.  export_finished fires when done."""
        if self._shown is None or self._export_job is not None:
            return 0
        start, stop = self._shown.start, self._shown.stop
        signals = [(robot, key) for robot, key, _ in self._shown.buckets.values()]
        points = min(RAW_MAX_POINTS, max(1, int((stop - start).total_seconds()
                                                // RAW_RESOLUTION_S)))
        meta = self._metadata(start, stop, f"{RAW_RESOLUTION_S} s")
        stop_event = threading.Event()
        relay, store = self._relay, self._store
        self._generation += 1
        generation = self._generation

        def progress(done: int, total: int | None) -> bool:
            relay.progressed.emit(done, total or 0)
            return not stop_event.is_set()

        def work() -> int:
            rows: list[ExportRow] = []
            for robot, key in signals:
                if stop_event.is_set():
                    raise ExportCancelled("export cancelled")
                rows.extend(rows_from_buckets(robot, key.measurement, key.field, key.series,
                            store.query(robot, key.measurement, key.field, start, stop,
                                        points, key.series)))
            if fmt == "csv":
                return write_csv(path, rows, total=len(rows), progress=progress)
            return write_json(path, rows, metadata=meta, total=len(rows), progress=progress)

        dialog = QProgressDialog("Exporting raw history…", "Cancel", 0, 0, self)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(PROGRESS_DELAY_MS)
        dialog.canceled.connect(stop_event.set)
        self._relay.progressed.connect(self._on_export_progressed)
        self._export_job = (generation, path, stop_event, dialog)
        self._pool.start(Task(generation, self._relay, work))
        return generation

    def cancel_export(self) -> None:
        if self._export_job is not None:
            self._export_job[2].set()

    def _on_export_progressed(self, done: int, total: int) -> None:
        if self._export_job is not None:
            dialog = self._export_job[3]
            dialog.setMaximum(total)
            dialog.setValue(done)

    def _finish_export(self) -> None:
        if self._export_job is not None:
            self._relay.progressed.disconnect(self._on_export_progressed)
            dialog = self._export_job[3]
            self._export_job = None
            dialog.reset()
            dialog.deleteLater()

    def _on_export_done(self, written: object) -> None:
        path = self._export_job[1] if self._export_job else ""
        self._finish_export()
        self.status.setText(f"Exported {written} rows to {path}")
        self.export_finished.emit(path, int(written))  # type: ignore[call-overload]
