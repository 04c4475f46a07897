"""The Reports page's worker side: what runs on its QThreadPool (one report generation,
one read of the report catalogue) and the relay whose queued signals carry the outcome
and progress back to the GUI thread.  Nothing here touches a widget."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, Signal

from app.reports_list import load_reports
from services.reports import ReportCancelled, generate_report

logger = logging.getLogger(__name__)


class ReportsRelay(QObject):
    """Lives on the GUI thread, so signals emitted by a worker are queued there."""

    progressed = Signal(int, float)  # job, fraction
    generated = Signal(int, object)  # job, ReportResult
    cancelled = Signal(int)
    failed = Signal(int, str)
    listed = Signal(object)  # list[ReportRow]
    list_failed = Signal(str)


class ReportsTask(QRunnable):
    def __init__(self, work: Callable[[], None]) -> None:
        super().__init__()
        self._work = work

    def run(self) -> None:  # worker thread: never touches widgets, only emits
        self._work()


def report_file_name(kind: str, robots: list[str], now: datetime) -> str:
    who = robots[0] if len(robots) == 1 else f"{len(robots)}-robots"
    who = re.sub(r"[^A-Za-z0-9_.-]+", "_", who)[:40]  # robot ids may hold any character
    return f"{kind}-{who}-{now.astimezone():%Y%m%d-%H%M%S}.pdf"


def unique_path(folder: Path, name: str) -> Path:
    """Never overwrite an earlier report (two in the same second share a name)."""
    path, stem, number = folder / name, Path(name).stem, 2
    while path.exists():
        path, number = folder / f"{stem}-{number}.pdf", number + 1
    return path


def generation_task(relay: ReportsRelay, job: int, cancel: threading.Event, *, kind: str,
                    robots: list[str], start: datetime, stop: datetime, store, database,
                    author: str, out: Path) -> ReportsTask:
    """One report generation; its outcome arrives as relay.generated, cancelled or
    failed, tagged with `job` so the page can drop the answer to an older question."""

    def work() -> None:
        try:
            result = generate_report(
                kind, robots, start, stop, history=store, database=database,
                author=author, out_path=out, cancel=cancel.is_set,
                progress=lambda fraction: relay.progressed.emit(job, fraction))
        except ReportCancelled:
            relay.cancelled.emit(job)
        except Exception as exc:  # shown in the page; the worker must not die silently
            logger.exception("report generation failed")
            relay.failed.emit(job, str(exc))
        else:
            relay.generated.emit(job, result)

    return ReportsTask(work)


def listing_task(relay: ReportsRelay, database) -> ReportsTask:
    """One read of the recorded reports; arrives as relay.listed or list_failed."""

    def work() -> None:
        try:
            rows = load_reports(database)
        except Exception as exc:  # shown in the page
            logger.warning("listing reports failed: %s", exc)
            relay.list_failed.emit(str(exc))
            return
        relay.listed.emit(rows)

    return ReportsTask(work)
