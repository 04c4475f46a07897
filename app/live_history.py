"""Fills a paused live page with stored history when the operator pans before its buffers.

The live pages know nothing of stores (widgets never do); this loader answers their
`history_needed` from the history store in a worker thread and hands the result back on
the GUI thread.  Buckets of the store's min/max downsampling are drawn as their min and
max (a spike stays a spike), at about one bucket per pixel of the plot.
"""

from __future__ import annotations

import logging
import weakref
from datetime import UTC, datetime
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.background import BackgroundWork
from services.history.base import HistoryStore
from services.live.model import SignalKey
from widgets.live_page import LivePage

logger = logging.getLogger(__name__)


def history_arrays(buckets: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(times, values) drawing each bucket as its min then its max at its start time."""
    times = np.repeat([b.start.timestamp() for b in buckets], 2).astype(float)
    values = np.empty(len(times))
    values[0::2] = [b.min for b in buckets]
    values[1::2] = [b.max for b in buckets]
    return times, values


class LiveHistoryLoader(QObject):
    """Answers the history requests of the live pages it is attached to."""

    history_failed = Signal(str)

    def __init__(self, store: HistoryStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._work = BackgroundWork("history for a live page", self)
        self._work.succeeded.connect(self._on_history_loaded)
        self._work.failed.connect(lambda _token, text: self.history_failed.emit(
            f"History unavailable: {text}"))
        self._pages: weakref.WeakValueDictionary[int, LivePage] = weakref.WeakValueDictionary()
        self._generations: dict[int, int] = {}  # per page: only the newest answer is drawn

    def attach(self, page: LivePage) -> None:
        page_id = id(page)
        self._pages[page_id] = page
        page.history_needed.connect(
            lambda keys, start, stop, px, page_id=page_id:
            self._on_history_needed(page_id, keys, start, stop, px))

    def _on_history_needed(self, page_id: int, keys: list[SignalKey], start_s: float,
                           stop_s: float, width_px: int) -> None:
        generation = self._generations.get(page_id, 0) + 1
        self._generations[page_id] = generation
        start = datetime.fromtimestamp(start_s, UTC)
        stop = datetime.fromtimestamp(stop_s, UTC)
        store, keys, points = self._store, list(keys), max(width_px, 1)
        self._work.start((page_id, generation), lambda: {
            key: history_arrays(store.query(key.robot_id, key.measurement, key.field,
                                            start, stop, points, series=key.series))
            for key in keys})

    def _on_history_loaded(self, token: tuple[int, int], data: object) -> None:
        page_id, generation = token
        page = self._pages.get(page_id)
        if page is None or generation != self._generations.get(page_id):
            return  # closed, or panned on since
        page.set_history(data)

    def shutdown(self) -> None:
        self._work.shutdown(5000)
