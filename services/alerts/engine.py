"""The alert rule engine: samples and robot events in, alert changes out.

One small state machine per (robot, alert type, source).  A condition must hold
continuously for `raise_after_s` of *sample* time before it raises (so a short spike or
a value flapping around the threshold raises nothing), a warning that holds beyond the
critical level as long escalates the same alert, and an alert clears only after the
value is back past the warning level by a hysteresis margin for `clear_after_s`.

An alert an operator resolved by hand while its condition still holds is *held*
(`hold`): nothing is raised again for that key until the condition has cleared the
normal way (then the rule re-arms quietly), except that a held warning which turns
critical raises a new critical alert.  Without the hold the engine would re-raise the
alert `raise_after_s` later, undoing the operator's resolve.

Pure: no database, no MQTT, no wall clock.  The ingest service turns the returned
AlertChange values into rows (services.alerts.store) and announcements.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from services.alerts.engine_memory import AlertKey, KeyState, KeyStates, ThresholdCache
from services.alerts.rules import (
    CONNECTIVITY_FINE,
    CONNECTIVITY_OFFLINE,
    CONNECTIVITY_SOURCE,
    CONNECTIVITY_STATES,
    CRITICAL,
    EMERGENCY_SOURCE,
    METRICS,
    NETWORK_ALERT_TYPE,
    SAMPLE_METRICS,
    SYSTEM_ALERT_TYPE,
    WARNING,
    Metric,
    RuleSettings,
    breach_text,
    clear_limit,
    cleared_text,
    connectivity_text,
    disabled_text,
    emergency_text,
    is_clear,
    level,
    servo_source,
)

if TYPE_CHECKING:
    from services.records.repositories import Threshold
    from services.wire.model import Sample

logger = logging.getLogger(__name__)

__all__ = ["AlertChange", "AlertEngine", "RuleSettings"]

RAISED = "raised"
ESCALATED = "escalated"
RESOLVED = "resolved"

DEFAULT_SETTINGS = RuleSettings()  # frozen, with a read-only hysteresis map: safe to share


@dataclass(frozen=True)
class AlertChange:
    kind: str  # "raised" | "escalated" | "resolved"
    robot_id: str
    alert_type: str
    source: str
    severity: str  # after the change; for resolved the last one
    value: float | None
    threshold: float | None
    title: str
    message: str
    at: datetime  # aware UTC: the sample/event time that completed the condition
    details: dict[str, Any]


class AlertEngine:
    def __init__(self, thresholds: Callable[[str], Mapping[str, Threshold]],
                 settings: RuleSettings = DEFAULT_SETTINGS) -> None:
        self.settings = settings
        self._states = KeyStates(settings.max_keys)
        self._thresholds_cache = ThresholdCache(thresholds, settings.thresholds_ttl_s,
                                                settings.max_keys)
        # The ingest may feed batches and stale checks from different threads.
        self._lock = threading.Lock()

    # -- inputs ---------------------------------------------------------------------

    def observe_sample(self, sample: Sample) -> list[AlertChange]:
        """Every alerting field of one wire sample (servo samples per servo_id)."""
        changes: list[AlertChange] = []
        for metric in SAMPLE_METRICS.get(sample.measurement, ()):
            value = sample.fields.get(metric.field)
            if value is None or isinstance(value, bool):
                continue
            if metric.source is not None:
                source = metric.source
            elif sample.series:
                source = servo_source(sample.series)
            else:  # a servo reading without its id cannot be told apart from the others
                continue
            changes += self.observe(sample.robot_id, metric.metric_type, source,
                                    value, sample.time)
        return changes

    def observe(self, robot_id: str, metric_type: str, source: str, value: float,
                at: datetime) -> list[AlertChange]:
        metric = METRICS.get(metric_type)
        if metric is None:
            raise ValueError(f"unknown metric type {metric_type!r}; known: {sorted(METRICS)}")
        at = _utc(at)
        value = float(value)
        if not math.isfinite(value):
            return []
        with self._lock:
            state = self._states.touch((robot_id, metric.alert_type, source))
            # Equal times are the same point redelivered: ignore them too.
            if state.last_at is not None and at <= state.last_at:
                return []
            state.last_at = at
            threshold = self._thresholds_cache.get(robot_id, metric_type, at)
            return self._evaluate(state, robot_id, metric, source, value, at, threshold)

    def observe_connectivity(self, robot_id: str, state: str, at: datetime,
                             cause: str | None = None) -> list[AlertChange]:
        """"stale" raises a warning, "offline" (the connection is lost: a last will, or
        silence) a critical (escalating a stale one) at once: the ingest has already
        waited for the silence.  "ok" and "stopped" (a clean goodbye: the robot left on
        purpose, nothing is wrong) raise nothing and resolve an open alert at once.
        `cause` says how the loss was noticed, for the message."""
        if state not in CONNECTIVITY_STATES:
            raise ValueError(f"connectivity state must be one of {CONNECTIVITY_STATES}, "
                             f"not {state!r}")
        at = _utc(at)
        with self._lock:
            key = (robot_id, NETWORK_ALERT_TYPE, CONNECTIVITY_SOURCE)
            current = self._states.touch(key)
            if current.last_at is not None and at < current.last_at:
                return []
            current.last_at = at
            title, message = connectivity_text(robot_id, state, cause)
            details = {"connectivity": state} | ({"cause": cause} if cause else {})
            if state in CONNECTIVITY_FINE:
                current.held = None
                if current.severity is None:
                    return []
                return [self._close(current, key, None, None, title, message, at, details)]
            wanted = CRITICAL if state == CONNECTIVITY_OFFLINE else WARNING
            if not self._past_hold(current, wanted):
                return []
            return self._open_or_escalate(current, key, wanted, title, message, at, details)

    def observe_emergency(self, robot_id: str, stopped: bool, reason: str | None,
                          at: datetime) -> list[AlertChange]:
        at = _utc(at)
        with self._lock:
            key = (robot_id, SYSTEM_ALERT_TYPE, EMERGENCY_SOURCE)
            current = self._states.touch(key)
            if current.last_at is not None and at < current.last_at:
                return []
            current.last_at = at
            title, message = emergency_text(robot_id, stopped, reason)
            details = {"emergency_stopped": bool(stopped), "reason": reason}
            if not stopped:
                current.held = None
                if current.severity is None:
                    return []
                return [self._close(current, key, None, None, title, message, at, details)]
            if not self._past_hold(current, CRITICAL):
                return []
            return self._open_or_escalate(current, key, CRITICAL, title, message, at, details)

    # -- lifecycle ------------------------------------------------------------------

    def resume(self, open_alerts: Iterable[tuple[str, str, str, str]]) -> None:
        """Seed the open alerts (e.g. AlertStore.open_keys()) after a restart, so the
        engine neither raises them again nor forgets to resolve them."""
        with self._lock:
            count = 0
            for robot_id, alert_type, source, severity in open_alerts:
                self._states.touch((robot_id, alert_type, source)).severity = severity
                count += 1
            logger.info("alert engine resumed %d open alerts", count)

    def forget(self, robot_id: str, alert_type: str, source: str) -> None:
        """Drop one key's state: a condition that still holds then raises a new alert
        after raise_after_s."""
        with self._lock:
            self._states.pop((robot_id, alert_type, source), None)

    def hold(self, robot_id: str, alert_type: str, source: str) -> None:
        """The open alert of this key was resolved elsewhere (by an operator, or by the
        other ingest): close it here and raise nothing more until the condition clears,
        unless a held warning turns critical."""
        with self._lock:
            state = self._states.get((robot_id, alert_type, source))
            if state is None or state.severity is None:
                return
            state.held, state.severity = state.severity, None
            # Escalation must be earned afresh: a critical run already under way when a
            # warning was resolved by hand would otherwise raise at the very next sample.
            state.crit_since = None

    def held_alerts(self) -> list[tuple[str, str, str, str]]:
        """(robot_id, alert_type, source, severity) of every key held after a manual
        resolve (see hold)."""
        with self._lock:
            return [(*key, state.held) for key, state in self._states.items()
                    if state.held is not None]

    def invalidate(self, robot_id: str | None = None) -> None:
        """Re-read thresholds on the next sample: one robot's, or everyone's (None)."""
        with self._lock:
            self._thresholds_cache.invalidate(robot_id)

    def open_alerts(self) -> list[tuple[str, str, str, str]]:
        """(robot_id, alert_type, source, severity) of every alert the engine holds open."""
        with self._lock:
            return [(*key, state.severity) for key, state in self._states.items()
                    if state.severity is not None]

    @property
    def key_count(self) -> int:
        return len(self._states)

    # -- the state machine --------------------------------------------------------

    def _evaluate(self, state: KeyState, robot_id: str, metric: Metric, source: str,
                  value: float, at: datetime,
                  threshold: Threshold | None) -> list[AlertChange]:
        key = (robot_id, metric.alert_type, source)
        if threshold is None or not threshold.enabled:
            state.warn_since = state.crit_since = state.clear_since = None
            state.held = None
            if state.severity is None:
                return []
            title, message = disabled_text(metric, source)
            return [self._close(state, key, value, None, title, message, at,
                                {"metric_type": metric.metric_type,
                                 "reason": "threshold disabled"})]
        margin = self.settings.margin(metric.metric_type)
        severity_now = level(value, threshold)
        # A run restarts whenever one sample breaks it: flapping never accumulates.
        state.warn_since = (state.warn_since or at) if severity_now is not None else None
        state.crit_since = (state.crit_since or at) if severity_now == CRITICAL else None
        state.clear_since = ((state.clear_since or at) if is_clear(value, threshold, margin)
                             else None)
        hold = self.settings.raise_after_s

        def details(held_s: float) -> dict[str, Any]:
            return {"metric_type": metric.metric_type, "hold_s": hold,
                    "held_s": round(held_s, 3), "warning": threshold.warning,
                    "critical": threshold.critical, "low_is_bad": threshold.low_is_bad,
                    "hysteresis": margin, "clear_at": clear_limit(threshold, margin),
                    "threshold_scope": "global" if threshold.robot_id is None else "robot"}

        crit_held = _held(state.crit_since, at)
        warn_held = _held(state.warn_since, at)
        if state.held is not None:
            clear_held = _held(state.clear_since, at)
            if clear_held is not None and clear_held >= self.settings.clear_after_s:
                state.held = None  # cleared the normal way: the rule is armed again
                return []
            if state.held == CRITICAL or crit_held is None or crit_held < hold:
                return []
            state.held, state.severity = None, CRITICAL  # worse than what was resolved
            return [self._breach(RAISED, key, metric, CRITICAL, value, threshold,
                                 crit_held, at, details(crit_held))]
        if state.severity is None:
            if crit_held is not None and crit_held >= hold:
                new, held = CRITICAL, crit_held
            elif warn_held is not None and warn_held >= hold:
                new, held = WARNING, warn_held
            else:
                return []
            state.severity = new
            return [self._breach(RAISED, key, metric, new, value, threshold, held, at,
                                 details(held))]
        if state.severity != CRITICAL and crit_held is not None and crit_held >= hold:
            state.severity = CRITICAL
            return [self._breach(ESCALATED, key, metric, CRITICAL, value, threshold,
                                 crit_held, at, details(crit_held))]
        clear_held = _held(state.clear_since, at)
        if clear_held is not None and clear_held >= self.settings.clear_after_s:
            title, message = cleared_text(metric, source, value, threshold, margin, clear_held)
            limit = threshold.critical if state.severity == CRITICAL else threshold.warning
            return [self._close(state, key, value, limit, title, message, at,
                                {**details(clear_held), "hold_s": self.settings.clear_after_s})]
        return []

    def _breach(self, kind: str, key: AlertKey, metric: Metric, severity: str, value: float,
                threshold: Threshold, held_s: float, at: datetime,
                details: dict[str, Any]) -> AlertChange:
        limit = threshold.critical if severity == CRITICAL else threshold.warning
        title, message = breach_text(metric, key[2], severity, value, limit,
                                     threshold.low_is_bad, held_s)
        return AlertChange(kind, *key, severity, value, limit, title, message, at, details)

    def _open_or_escalate(self, state: KeyState, key: AlertKey, wanted: str, title: str,
                          message: str, at: datetime,
                          details: dict[str, Any]) -> list[AlertChange]:
        if state.severity is None:
            state.severity = wanted
            return [AlertChange(RAISED, *key, wanted, None, None, title, message, at, details)]
        if wanted == CRITICAL and state.severity != CRITICAL:
            state.severity = CRITICAL
            return [AlertChange(ESCALATED, *key, CRITICAL, None, None, title, message, at,
                                details)]
        return []  # never de-escalate: an offline robot that turns stale stays critical

    @staticmethod
    def _past_hold(state: KeyState, wanted: str) -> bool:
        """False while a manually resolved alert holds this key at `wanted` or worse."""
        if state.held is None:
            return True
        if wanted == CRITICAL and state.held != CRITICAL:
            state.held = None
            return True
        return False

    @staticmethod
    def _close(state: KeyState, key: AlertKey, value: float | None, threshold: float | None,
               title: str, message: str, at: datetime,
               details: dict[str, Any]) -> AlertChange:
        severity = state.severity or WARNING
        state.severity = None
        state.warn_since = state.crit_since = state.clear_since = None
        return AlertChange(RESOLVED, *key, severity, value, threshold, title, message, at,
                           details)


def _held(since: datetime | None, at: datetime) -> float | None:
    return None if since is None else (at - since).total_seconds()


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: alert times must be timezone-aware")
    return at.astimezone(UTC)
