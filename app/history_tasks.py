"""The History page's worker tasks: a callable run in a QThreadPool whose outcome comes
back to the GUI thread as queued signals, tagged with the generation that asked."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Signal

logger = logging.getLogger(__name__)


class Relay(QObject):
    """Carries a worker's outcome back to the GUI thread (queued signal delivery)."""

    succeeded = Signal(int, object)
    failed = Signal(int, str)
    progressed = Signal(int, int)


class Task(QRunnable):
    def __init__(self, generation: int, relay: Relay, work: Callable[[], Any]) -> None:
        super().__init__()
        self.generation, self.relay, self.work = generation, relay, work

    def run(self) -> None:  # worker thread: never touches widgets, only emits
        try:
            result = self.work()
        except Exception as exc:  # reported to the operator, not swallowed
            logger.warning("history task failed: %s", exc)
            self.relay.failed.emit(self.generation, str(exc) or type(exc).__name__)
        else:
            self.relay.succeeded.emit(self.generation, result)
