"""Gather what a report shows: downsampled signals, their statistics, alerts and jobs.

Statistics come from the history store's buckets (about BUCKETS_PER_SIGNAL per signal),
never from raw samples, so a 24 h report for many robots stays fast:
- min and max are exact (the min of bucket minima, the max of bucket maxima);
- mean is exact (bucket means weighted by their sample counts);
- p95 is estimated: the 95th percentile of bucket means, each weighted by its count;
- time above warning/critical is estimated: the time covered by data is the number of
  non-empty buckets times the bucket width; the share of it past the threshold is the
  count-weighted mean of each bucket's share, taken as if its values were spread evenly
  between its min and max (1 when min is past it, 0 when max is not).  Weighting by
  count keeps buckets that caught two samples from counting as one.  For battery,
  "past" means below the threshold.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.alerts.store import MAX_ALERTS_LISTED, AlertStore
from services.history.base import Bucket, HistoryStore, SeriesKey, bucket_width_us
from services.records.db import Database
from services.records.jobs import MAX_JOBS_LISTED, JobRepository
from services.records.models import TERMINAL_JOB_STATUSES
from services.records.repositories import ThresholdRepository

logger = logging.getLogger(__name__)

BUCKETS_PER_SIGNAL = 300
QUERY_WORKERS = 6
P95_FRACTION = 0.95
# Used when alert_thresholds has no row for a metric (the migration's global defaults).
DEFAULT_THRESHOLDS: dict[str, tuple[float, float]] = {
    "cpu": (70.0, 90.0), "memory": (75.0, 90.0), "temperature": (70.0, 80.0),
    "battery": (20.0, 10.0), "servo_temp": (60.0, 75.0),
}


@dataclass(frozen=True)
class SignalSpec:
    key: SeriesKey
    label: str
    unit: str
    metric_type: str  # alert_thresholds.metric_type
    group: str  # which chart/section: performance, temperature, battery


BASE_SIGNALS = (
    SignalSpec(SeriesKey("performance", "cpu_percent"), "CPU usage", "%", "cpu", "performance"),
    SignalSpec(SeriesKey("performance", "memory_percent"), "Memory usage", "%", "memory",
               "performance"),
    SignalSpec(SeriesKey("performance", "cpu_temperature"), "CPU temperature", "°C",
               "temperature", "temperature"),
    SignalSpec(SeriesKey("battery", "percentage"), "Battery level", "%", "battery", "battery"),
)


@dataclass(frozen=True)
class SignalStats:
    min: float
    mean: float
    max: float
    p95: float
    samples: int
    warning: float
    critical: float
    above_warning_s: float
    above_critical_s: float


@dataclass
class SignalData:
    spec: SignalSpec
    buckets: list[Bucket]
    stats: SignalStats | None  # None when the range holds no samples


@dataclass
class RobotData:
    robot_id: str
    signals: list[SignalData] = field(default_factory=list)

    def group(self, name: str) -> list[SignalData]:
        return [s for s in self.signals if s.spec.group == name and s.stats is not None]


@dataclass(frozen=True)
class AlertRow:
    robot_id: str | None
    raised_at: datetime | None
    severity: str
    alert_type: str
    title: str
    acknowledged_by: str | None
    ack_seconds: float | None


@dataclass
class AlertSummary:
    rows: list[AlertRow]
    by_severity: dict[str, int]
    by_type: dict[str, int]
    acknowledged: int
    mean_ack_s: float | None
    max_ack_s: float | None


@dataclass(frozen=True)
class JobRow:
    robot_id: str
    task_name: str | None
    status: str | None
    start_time: datetime
    duration_s: float | None
    items_done: int


@dataclass
class JobSummary:
    rows: list[JobRow]
    by_status: dict[str, int]
    success_rate: float | None  # completed / finished, None when none finished
    mean_duration_s: float | None
    max_duration_s: float | None
    items_per_hour: float | None


@dataclass
class ReportData:
    robots: list[str]
    start: datetime
    stop: datetime
    robot_data: list[RobotData]
    alerts: AlertSummary
    jobs: JobSummary


def weighted_percentile(buckets: list[Bucket], fraction: float) -> float:
    ordered = sorted(buckets, key=lambda b: b.mean)
    total = sum(b.count for b in ordered)
    target = fraction * total
    running = 0
    for bucket in ordered:
        running += bucket.count
        if running >= target:
            return bucket.mean
    return ordered[-1].mean


def _share_past(bucket: Bucket, threshold: float, low_is_bad: bool) -> float:
    low, high = bucket.min, bucket.max
    if low_is_bad:
        if high <= threshold:
            return 1.0
        if low > threshold:
            return 0.0
        return (threshold - low) / (high - low)
    if low >= threshold:
        return 1.0
    if high < threshold:
        return 0.0
    return (high - threshold) / (high - low)


def signal_stats(buckets: list[Bucket], width_s: float, warning: float, critical: float,
                 low_is_bad: bool = False) -> SignalStats | None:
    if not buckets:
        return None
    total = sum(b.count for b in buckets)
    mean = sum(b.mean * b.count for b in buckets) / total
    covered_s = len(buckets) * width_s

    def time_past(threshold: float) -> float:
        share = sum(_share_past(b, threshold, low_is_bad) * b.count for b in buckets) / total
        return share * covered_s

    return SignalStats(
        min=min(b.min for b in buckets), mean=mean, max=max(b.max for b in buckets),
        p95=weighted_percentile(buckets, P95_FRACTION), samples=total,
        warning=warning, critical=critical,
        above_warning_s=time_past(warning), above_critical_s=time_past(critical))


def robot_signals(history: HistoryStore, robot_id: str) -> list[SignalSpec]:
    """The base signals plus one servo temperature per servo the store knows."""
    servos = [key for key in history.list_fields(robot_id)
              if key.measurement == "servos" and key.field == "temperature"]
    servo_specs = [SignalSpec(key, f"Servo {key.series} temperature", "°C", "servo_temp",
                              "servos") for key in servos]
    servo_specs.sort(key=lambda s: (len(s.key.series), s.key.series))  # 2 before 10
    return [*BASE_SIGNALS, *servo_specs]


def _thresholds(database: Database, robot_id: str) -> dict[str, tuple[float, float]]:
    with database.session() as session:
        effective = ThresholdRepository(session).effective(robot_id)
    merged = dict(DEFAULT_THRESHOLDS)
    merged.update({metric: (t.warning, t.critical) for metric, t in effective.items()})
    return merged


def gather_alerts(database: Database, robot_ids: list[str], start: datetime,
                  stop: datetime) -> AlertSummary:
    rows: list[AlertRow] = []
    with database.session() as session:
        store = AlertStore(session)
        for robot_id in robot_ids:
            for alert in store.list(robot_id=robot_id, since=start, limit=MAX_ALERTS_LISTED):
                if alert.created_at is None or alert.created_at >= stop:
                    continue
                ack_s = None
                if alert.acknowledged and alert.acknowledged_at is not None:
                    ack_s = (alert.acknowledged_at - alert.created_at).total_seconds()
                rows.append(AlertRow(alert.robot_id, alert.created_at, alert.severity,
                                     alert.alert_type, alert.title, alert.acknowledged_by,
                                     ack_s))
    rows.sort(key=lambda r: r.raised_at)
    by_severity: dict[str, int] = {}
    by_type: dict[str, int] = {}
    for row in rows:
        by_severity[row.severity] = by_severity.get(row.severity, 0) + 1
        by_type[row.alert_type] = by_type.get(row.alert_type, 0) + 1
    acks = [r.ack_seconds for r in rows if r.ack_seconds is not None]
    return AlertSummary(rows, by_severity, by_type, len(acks),
                        sum(acks) / len(acks) if acks else None, max(acks) if acks else None)


def gather_jobs(database: Database, robot_ids: list[str], start: datetime,
                stop: datetime) -> JobSummary:
    rows: list[JobRow] = []
    with database.session() as session:
        repository = JobRepository(session)
        for robot_id in robot_ids:
            for job in repository.list(robot_id=robot_id, limit=MAX_JOBS_LISTED):
                if not start <= job.start_time < stop:
                    continue
                duration = None
                if job.end_time is not None and job.status in TERMINAL_JOB_STATUSES:
                    duration = (job.end_time - job.start_time).total_seconds()
                rows.append(JobRow(job.robot_id, job.task_name, job.status, job.start_time,
                                   duration, job.items_done or 0))
    rows.sort(key=lambda r: r.start_time)
    by_status: dict[str, int] = {}
    for row in rows:
        by_status[row.status or "?"] = by_status.get(row.status or "?", 0) + 1
    finished = [r for r in rows if r.duration_s is not None]
    durations = [r.duration_s for r in finished]
    hours = sum(durations) / 3600.0
    return JobSummary(
        rows, by_status,
        success_rate=(by_status.get("completed", 0) / len(finished)) if finished else None,
        mean_duration_s=sum(durations) / len(durations) if durations else None,
        max_duration_s=max(durations) if durations else None,
        items_per_hour=sum(r.items_done for r in finished) / hours if hours > 0 else None)


def gather(robot_ids: list[str], start: datetime, stop: datetime, *, history: HistoryStore,
           database: Database, signals: bool = True,
           step: Callable[[float], None] = lambda _fraction: None) -> ReportData:
    """Everything a report needs; `step(fraction)` is called in this thread after each
    signal and may raise to abort (the cancel check), which drops the queries not started."""
    width_s = bucket_width_us(start, stop, BUCKETS_PER_SIGNAL) / 1e6
    robot_data = [RobotData(robot_id) for robot_id in robot_ids]
    if not signals:
        step(1.0)
    else:
        tasks: list[tuple[RobotData, SignalSpec, tuple[float, float]]] = []
        for data in robot_data:
            limits = _thresholds(database, data.robot_id)
            tasks += [(data, spec, limits[spec.metric_type])
                      for spec in robot_signals(history, data.robot_id)]

        def fetch(spec: SignalSpec, robot_id: str) -> list[Bucket]:
            return history.query(robot_id, spec.key.measurement, spec.key.field, start, stop,
                                 BUCKETS_PER_SIGNAL, spec.key.series)

        # Queries wait on the database (the driver releases the GIL), so a few run at once.
        with ThreadPoolExecutor(QUERY_WORKERS, thread_name_prefix="report-query") as pool:
            futures = [pool.submit(fetch, spec, data.robot_id) for data, spec, _ in tasks]
            try:
                for done, _future in enumerate(as_completed(futures), start=1):
                    step(done / len(futures))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        for (data, spec, (warning, critical)), future in zip(tasks, futures, strict=True):
            buckets = future.result()
            data.signals.append(SignalData(spec, buckets, signal_stats(
                buckets, width_s, warning, critical, spec.metric_type == "battery")))
    return ReportData(list(robot_ids), start, stop, robot_data,
                      gather_alerts(database, robot_ids, start, stop),
                      gather_jobs(database, robot_ids, start, stop))


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return str(timedelta(seconds=round(seconds)))
