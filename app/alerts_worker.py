"""The Alerts page's one worker thread: database work off the GUI thread, results back
on it through a queued signal, so a slow or unreachable server never freezes the window."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal

from services.auth import PermissionDenied

logger = logging.getLogger(__name__)


class PageWorker(QObject):
    """run(work, on_done, failure, cause): on_done(result) on the GUI thread, or
    work_failed(text, cause) with the text to show (a refusal says "Refused")."""

    work_failed = Signal(str, str)  # text for the operator, the notice's cause
    _finished = Signal(object, object)  # (on_done, failure, cause), future: queued

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._name = name
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._finished.connect(self._on_finished)

    def run(self, work: Callable[[], Any], on_done: Callable[[Any], None], failure: str,
            cause: str = "") -> None:
        def deliver(future: Future) -> None:
            try:
                self._finished.emit((on_done, failure, cause), future)
            except RuntimeError:  # the page is gone (window closed); nobody to tell
                pass
        try:
            self._executor.submit(work).add_done_callback(deliver)
        except RuntimeError:  # executor shut down
            logger.info("%s is shutting down; %s skipped", self._name, failure.lower())

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _on_finished(self, callback: tuple[Callable[[Any], None], str, str],
                     future: Future) -> None:
        on_done, failure, cause = callback
        if future.cancelled():
            return
        error = future.exception()
        if isinstance(error, PermissionDenied):
            self.work_failed.emit(f"Refused: {error}", cause)
        elif error is not None:
            logger.warning("%s: %s", failure, error)
            self.work_failed.emit(f"{failure}: {error}", cause)
        else:
            on_done(future.result())
