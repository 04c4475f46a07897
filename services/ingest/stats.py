"""Counters the ingest service keeps, and a rate limit for its complaint log lines."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class IngestStats:
    received: int = 0
    stored: int = 0
    rejected: int = 0
    redelivered: int = 0
    duplicates: int = 0
    samples_written: int = 0
    store_failures: int = 0
    records_failures: int = 0
    robots_registered: int = 0
    dead_lettered: int = 0
    confirmed: int = 0  # seqs confirmed to robots in receipts

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Counters:
    """Thread-safe counters: the paho thread counts receipts, the worker the rest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = IngestStats().as_dict()
        self.rejected_by_reason: dict[str, int] = {}
        self.notes_by_reason: dict[str, int] = {}

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._values[name] += amount

    def reject(self, reason: str) -> None:
        with self._lock:
            self._values["rejected"] += 1
            self.rejected_by_reason[reason] = self.rejected_by_reason.get(reason, 0) + 1

    def note(self, reason: str) -> None:
        """A message kept with a repair (a field dropped, a character replaced)."""
        with self._lock:
            self.notes_by_reason[reason] = self.notes_by_reason.get(reason, 0) + 1

    def snapshot(self) -> IngestStats:
        with self._lock:
            return IngestStats(**self._values)


class RateLimitedLog:
    """At most one line per key per interval; the next line says how many were held back."""

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, msg: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -1e9) < self._interval_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        held = self._suppressed.pop(key, 0)
        self._last[key] = now
        if held:
            self._logger.warning("%s (%d similar suppressed)", msg % args, held)
        else:
            self._logger.warning(msg, *args)
