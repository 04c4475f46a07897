"""Work off the GUI thread: callables run one at a time on a worker thread, and their
results come back as signals on the GUI thread (widgets are never touched off it)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

logger = logging.getLogger(__name__)


class _Relay(QObject):
    succeeded = Signal(object, object)  # token, result
    failed = Signal(object, str)  # token, message


class _Work(QRunnable):
    def __init__(self, relay: _Relay, token: object, work: Callable[[], Any],
                 what: str) -> None:
        super().__init__()
        self._relay, self._token, self._work, self._what = relay, token, work, what

    def run(self) -> None:  # worker thread: only computes and emits
        try:
            result = self._work()
        except Exception as exc:  # reported to the page; the worker must not die silently
            logger.warning("%s failed: %s", self._what, exc)
            self._relay.failed.emit(self._token, str(exc))
            return
        self._relay.succeeded.emit(self._token, result)


class BackgroundWork(QObject):
    """One worker thread for a page.  `start(token, work)` queues `work()`; its result
    arrives as `succeeded(token, result)`, an exception as `failed(token, message)`.
    The token is the caller's (a generation counter, so answers to an old question can
    be dropped)."""

    succeeded = Signal(object, object)
    failed = Signal(object, str)

    def __init__(self, what: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._what = what  # for the log line of a failure: "loading jobs"
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._relay = _Relay()  # lives on the GUI thread: its signals are queued there
        self._relay.succeeded.connect(self.succeeded)
        self._relay.failed.connect(self.failed)

    def start(self, token: object, work: Callable[[], Any]) -> None:
        self._pool.start(_Work(self._relay, token, work, self._what))

    def shutdown(self, timeout_ms: int = -1) -> None:
        """Drop what has not started and wait for what has."""
        self._pool.clear()
        self._pool.waitForDone(timeout_ms)
