"""What the Alerts page shows besides the table: the status-bar and tab texts, the
alert history lines and the metric series behind an alert (loaded on a worker thread).

Plain functions over AlertRow values and a history store; no widgets.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from services.vocabulary import SEVERITIES_WORST_FIRST
from widgets.alert_model import SOURCE_UNITS, AlertRow

logger = logging.getLogger(__name__)

CHART_BEFORE = timedelta(minutes=10)
CHART_AFTER = timedelta(minutes=10)
CHART_MAX_SPAN = timedelta(hours=2)
CHART_POINTS = 300
LOADING_TEXT = "Alerts: loading..."
UNAVAILABLE_TEXT = "Alerts: unavailable (records database not reachable)"
# alert source -> (measurement, field, label); servo_<n> is handled apart.
SOURCE_METRICS = {
    "cpu": ("performance", "cpu_percent", "CPU"),
    "memory": ("performance", "memory_percent", "Memory"),
    "disk": ("performance", "disk_percent", "Disk"),
    "cpu_temperature": ("performance", "cpu_temperature", "CPU temperature"),
    "battery": ("battery", "percentage", "Battery"),
}


def counts_text(counts: dict[str, int]) -> str:
    """'2 critical, 1 warning' (worst first), '' when nothing is unacknowledged."""
    return ", ".join(f"{counts[s]} {s}" for s in (*SEVERITIES_WORST_FIRST, *sorted(
        set(counts) - set(SEVERITIES_WORST_FIRST))) if counts.get(s))


def status_text(counts: dict[str, int], open_count: int, *, loaded: bool,
                failed: bool = False) -> str:
    """The status bar's summary.  Never "loading" once the first load is in (an empty
    database is an answer too), and says so when the last reload failed."""
    if not loaded:
        return UNAVAILABLE_TEXT if failed else LOADING_TEXT
    unacknowledged = counts_text(counts)
    if unacknowledged:
        text = f"Alerts: {unacknowledged} unacknowledged"
    elif open_count:
        text = f"Alerts: {open_count} open, all acknowledged"
    else:
        text = "Alerts: none open"
    return text + (" (may be out of date)" if failed else "")


def metric_of(alert: AlertRow) -> tuple[str, str, str, str, str] | None:
    """(measurement, field, series, label, unit) behind an alert, None for network/system."""
    source = alert.source or ""
    if source.startswith("servo_"):
        return "servos", "temperature", source, f"{source} temperature", "°C"
    if source in SOURCE_METRICS:
        measurement, field, label = SOURCE_METRICS[source]
        return measurement, field, "", label, SOURCE_UNITS.get(source, "")
    return None


def unit_of(alert: AlertRow | None) -> str:
    metric = None if alert is None else metric_of(alert)
    return "" if metric is None else metric[4]


def describe_event(details: Any, unit: str = "") -> str:
    """The details JSON of an alert_events row as a short line for people."""
    if not isinstance(details, dict):
        return ""
    parts = []
    for key in ("comment", "reason"):
        if details.get(key):
            parts.append(f"{key}: {details[key]}")
    if details.get("manual"):
        # What a manual resolve does to the rule (services.alerts.engine.hold).
        parts.append("resolved by hand: no new alert until the condition clears "
                     "(unless it turns critical)")
    if details.get("severity"):
        value, threshold = details.get("value"), details.get("threshold")
        suffix = f" {unit}" if unit else ""
        reading = "" if value is None else f" at {value:.1f}{suffix}"
        limit = "" if threshold is None else f" (threshold {threshold:g}{suffix})"
        parts.append(f"{details['severity']}{reading}{limit}")
    if details.get("auto"):
        parts.append("condition cleared")
    return "; ".join(parts)


def load_series(history, row: AlertRow) -> tuple | None:
    """(times, mean, min, max, label, unit) of the metric around the alert; worker thread."""
    metric = metric_of(row)
    if metric is None or row.created_at is None or not row.robot_id:
        return None
    measurement, field, series, label, unit = metric
    now = datetime.now(UTC)
    start = row.created_at - CHART_BEFORE
    end = max(row.created_at + CHART_AFTER, (row.resolved_at or row.created_at) + CHART_AFTER)
    stop = min(end, now, row.created_at + CHART_MAX_SPAN)
    if stop <= start:
        stop = start + CHART_BEFORE
    buckets = history.query(row.robot_id, measurement, field, start, stop,
                            max_points=CHART_POINTS, series=series)
    times = np.array([b.start.timestamp() for b in buckets], dtype=float)
    return (times, np.array([b.mean for b in buckets], dtype=float),
            np.array([b.min for b in buckets], dtype=float),
            np.array([b.max for b in buckets], dtype=float), label, unit)
