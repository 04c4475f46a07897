"""What the alert engine remembers between samples, and how much of it.

The per-key states (bounded, least recently used idle ones dropped first) and the
per-robot threshold cache (refreshed after a TTL of sample time).  Kept apart from
engine.py so the rules read without the bookkeeping; the engine's lock guards both.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.records.repositories import Threshold

logger = logging.getLogger(__name__)

AlertKey = tuple[str, str, str]  # (robot_id, alert_type, source)


@dataclass(slots=True)
class KeyState:
    """Everything remembered per key: a few fields, never a history of samples."""

    last_at: datetime | None = None  # newest sample/event time seen (older ones ignored)
    severity: str | None = None  # severity of the open alert, None when nothing is open
    warn_since: datetime | None = None  # start of the current run beyond warning
    crit_since: datetime | None = None  # start of the current run beyond critical
    clear_since: datetime | None = None  # start of the current run past the clear limit
    held: str | None = None  # severity of an alert resolved by hand, until it clears


class KeyStates(OrderedDict[AlertKey, KeyState]):
    """The states by key, oldest-touched first, at most max_keys of them when it can."""

    def __init__(self, max_keys: int) -> None:
        super().__init__()
        self.max_keys = max_keys
        self._cap_warned = False

    def touch(self, key: AlertKey) -> KeyState:
        """The key's state, created if new, and marked most recently used."""
        state = self.get(key)
        if state is None:
            state = self[key] = KeyState()
            self._evict()
        else:
            self.move_to_end(key)
        return state

    def _evict(self) -> None:
        """Keep at most max_keys states, dropping the least recently used idle ones.

        An idle state holds no open or held alert, so dropping it loses at most a pending
        run; open and held alerts are never dropped (they would be raised twice)."""
        excess = len(self) - self.max_keys
        if excess <= 0:
            return
        victims: list[AlertKey] = []
        for key, state in self.items():  # oldest first: usually stops at once
            if state.severity is None and state.held is None:
                victims.append(key)
                if len(victims) == excess:
                    break
        for key in victims:
            del self[key]
        if len(self) > self.max_keys and not self._cap_warned:
            self._cap_warned = True
            logger.warning("alert engine holds %d open alerts, above max_keys=%d",
                           len(self), self.max_keys)


class ThresholdCache:
    """Each robot's thresholds, read through `load` again once `ttl_s` of sample time
    has passed (either way: a replayed older sample also refreshes), at most
    `max_robots` robots."""

    def __init__(self, load: Callable[[str], Mapping[str, Threshold]], ttl_s: float,
                 max_robots: int) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._max_robots = max_robots
        self._cache: OrderedDict[str, tuple[datetime, Mapping[str, Threshold]]] = OrderedDict()

    def get(self, robot_id: str, metric_type: str, at: datetime) -> Threshold | None:
        cached = self._cache.get(robot_id)
        if cached is None or abs((at - cached[0]).total_seconds()) >= self._ttl_s:
            cached = (at, dict(self._load(robot_id)))
            self._cache[robot_id] = cached
            while len(self._cache) > self._max_robots:
                self._cache.popitem(last=False)
        self._cache.move_to_end(robot_id)
        return cached[1].get(metric_type)

    def invalidate(self, robot_id: str | None = None) -> None:
        """Re-read on the next sample: one robot's thresholds, or everyone's (None)."""
        if robot_id is None:
            self._cache.clear()
        else:
            self._cache.pop(robot_id, None)
