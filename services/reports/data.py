"""Gather what a report shows: downsampled signals, their statistics, alerts and jobs.

Statistics come from the history store's buckets (about BUCKETS_PER_SIGNAL per signal),
never from raw samples, so a 24 h report for many robots stays fast:
- min and max are exact (the min of bucket minima, the max of bucket maxima);
- mean is exact (bucket means weighted by their sample counts);
- p95 is estimated: the 95th percentile of bucket means, each weighted by its count;
- time above warning/critical is estimated: the time covered by data is the sum of what
  each non-empty bucket stands for (its width; for a series sampled more slowly than the
  buckets are wide, the interval to its next sample); the share of it past the threshold is the
  count-weighted mean of each bucket's share, taken as if its values were spread evenly
  between its min and max (1 when min is past it, 0 when max is not).  Weighting by
  count keeps buckets that caught two samples from counting as one.  For battery,
  "past" means below the threshold.

When a signal's data covers only part of the requested range it is queried again over
the data's own span, so four minutes of data in a 24 h report get 300 buckets, not one.

Alerts are those of the report's signals only (a battery report does not count CPU
alerts), matched on the (alert_type, source) the alert engine writes for each metric.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise

from sqlalchemy import and_, func, or_, select

from services.alerts.rules import METRICS
from services.history.base import Bucket, HistoryStore, SeriesKey, bucket_width_us
from services.records.db import Database
from services.records.jobs import MAX_JOBS_LISTED, JobRepository
from services.records.models import TERMINAL_JOB_STATUSES, Alert
from services.records.repositories import LOW_IS_BAD_METRICS, Threshold, ThresholdRepository

logger = logging.getLogger(__name__)

BUCKETS_PER_SIGNAL = 300
QUERY_WORKERS = 6
P95_FRACTION = 0.95
DENSE_GAP_BUCKETS = 1.5  # a dense series breaks where a bucket or more is empty
SPARSE_GAP_SPACINGS = 2.5  # a sparse one where two of its samples or more are missing
ALERTS_FETCHED = 5000  # rows read for the table and ack times; the counts cover all
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
# Stands for every servo's temperature (one per servo in robot_signals).
SERVO_SPEC = SignalSpec(SeriesKey("servos", "temperature"), "Servo temperature", "°C",
                        "servo_temp", "servos")


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
    threshold: Threshold | None = None  # the robot's effective limits; None: no alert rule
    width_s: float = 0.0  # of each bucket


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
    source: str | None = None  # which sensor/servo: places the alert on its chart


@dataclass
class AlertSummary:
    rows: list[AlertRow]  # the first ALERTS_FETCHED, oldest first
    by_severity: dict[str, int]
    by_type: dict[str, int]
    acknowledged: int
    mean_ack_s: float | None
    max_ack_s: float | None
    total: int = 0
    scope: list[str] | None = None  # labels of the signals counted; None: every alert


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


def _steps(buckets: list[Bucket]) -> list[float]:
    return [(b.start - a.start).total_seconds() for a, b in pairwise(buckets)]


def gap_limit(buckets: list[Bucket], width_s: float) -> float:
    """Seconds between bucket starts beyond which data counts as missing.

    Buckets narrower than the sample interval (short ranges, slow signals) are mostly
    empty: calling every empty bucket a gap would leave only lone points, so such a
    series has a gap only where a few of its own sample intervals are missing."""
    steps = _steps(buckets)
    spacing = statistics.median(steps) if steps else width_s
    if spacing <= DENSE_GAP_BUCKETS * width_s:
        return DENSE_GAP_BUCKETS * width_s
    return SPARSE_GAP_SPACINGS * spacing


def covered_seconds(buckets: list[Bucket], width_s: float) -> float:
    """The time the data stands for: each bucket up to the next one unless a gap lies
    between (then, like the last, its typical spacing)."""
    if not buckets:
        return 0.0
    steps = _steps(buckets)
    limit = gap_limit(buckets, width_s)
    typical = max(width_s, statistics.median(steps)) if steps else width_s
    return sum(step if step <= limit else typical for step in steps) + typical


def partial_span(buckets: list[Bucket], width_s: float, start: datetime,
                 stop: datetime) -> tuple[datetime, datetime] | None:
    """(first, last) of the data when it leaves an edge of [start, stop) empty for
    longer than a gap inside the data would be, else None."""
    if not buckets:
        return None
    first = buckets[0].start
    last = min(buckets[-1].start + timedelta(seconds=width_s), stop)
    tolerance = timedelta(seconds=gap_limit(buckets, width_s))
    if first - start > tolerance or stop - last > tolerance:
        return first, last
    return None


def signal_stats(buckets: list[Bucket], width_s: float, warning: float, critical: float,
                 low_is_bad: bool = False) -> SignalStats | None:
    if not buckets:
        return None
    total = sum(b.count for b in buckets)
    mean = sum(b.mean * b.count for b in buckets) / total
    covered_s = covered_seconds(buckets, width_s)

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
    servo_specs = [SignalSpec(key, f"Servo {key.series} temperature", SERVO_SPEC.unit,
                              SERVO_SPEC.metric_type, SERVO_SPEC.group) for key in servos]
    servo_specs.sort(key=lambda s: (len(s.key.series), s.key.series))  # 2 before 10
    return [*BASE_SIGNALS, *servo_specs]


def _thresholds(database: Database, robot_id: str) -> dict[str, Threshold]:
    """The robot's effective limits (its own rows over the global ones), falling back to
    the migration's defaults for a metric without any row."""
    with database.session() as session:
        effective = ThresholdRepository(session).effective(robot_id)
    merged = {metric: Threshold(warning, critical, True, metric in LOW_IS_BAD_METRICS)
              for metric, (warning, critical) in DEFAULT_THRESHOLDS.items()}
    merged.update(effective)
    return merged


def alert_scope(groups: set[str]) -> list[SignalSpec] | None:
    """The signals whose alerts a report with these chart groups counts; None (every alert,
    connectivity and emergency stops too) when it covers all of a robot's signals."""
    chosen = [spec for spec in (*BASE_SIGNALS, SERVO_SPEC) if spec.group in groups]
    return None if len(chosen) == len(BASE_SIGNALS) + 1 else chosen


def gather_alerts(database: Database, robot_ids: list[str], start: datetime,
                  stop: datetime, scope: list[SignalSpec] | None = None) -> AlertSummary:
    """Alerts raised in [start, stop) on these robots, of the `scope` signals only."""
    where = [Alert.robot_id.in_(robot_ids), Alert.created_at >= start, Alert.created_at < stop]
    if scope is not None:
        matches = []
        for spec in scope:
            metric = METRICS[spec.metric_type]
            # Servo alerts carry the servo in their source (servo_3): any source matches.
            matches.append(Alert.alert_type == metric.alert_type if metric.source is None
                           else and_(Alert.alert_type == metric.alert_type,
                                     Alert.source == metric.source))
        where.append(or_(*matches) if matches else Alert.id.is_(None))
    rows: list[AlertRow] = []
    with database.session() as session:
        # Counted in SQL so that the totals cover every alert, not only the rows fetched.
        by_severity = dict(session.execute(
            select(Alert.severity, func.count()).where(*where).group_by(Alert.severity)).all())
        by_type = dict(session.execute(
            select(Alert.alert_type, func.count()).where(*where).group_by(Alert.alert_type)).all())
        for alert in session.scalars(select(Alert).where(*where).order_by(
                Alert.created_at, Alert.id).limit(ALERTS_FETCHED)):
            ack_s = None
            if alert.acknowledged and alert.acknowledged_at is not None:
                ack_s = (alert.acknowledged_at - alert.created_at).total_seconds()
            rows.append(AlertRow(alert.robot_id, alert.created_at, alert.severity,
                                 alert.alert_type, alert.title, alert.acknowledged_by, ack_s,
                                 alert.source))
    acks = [r.ack_seconds for r in rows if r.ack_seconds is not None]
    return AlertSummary(rows, by_severity, by_type, len(acks),
                        sum(acks) / len(acks) if acks else None, max(acks) if acks else None,
                        total=sum(by_severity.values()),
                        scope=None if scope is None else [spec.label for spec in scope])


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
           step: Callable[[float], None] = lambda _fraction: None,
           alerts_of: list[SignalSpec] | None = None) -> ReportData:
    """Everything a report needs; `step(fraction)` is called in this thread after each
    signal and may raise to abort (the cancel check), which drops the queries not started.
    `alerts_of` limits the alerts to those signals (see alert_scope)."""
    width_s = bucket_width_us(start, stop, BUCKETS_PER_SIGNAL) / 1e6
    robot_data = [RobotData(robot_id) for robot_id in robot_ids]
    if not signals:
        step(1.0)
    else:
        tasks: list[tuple[RobotData, SignalSpec, Threshold]] = []
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
            results = [future.result() for future in futures]
            # Data over only part of the range: again over its own span, at full resolution.
            spans = [partial_span(buckets, width_s, start, stop) for buckets in results]
            refined = {index: pool.submit(history.query, data.robot_id, spec.key.measurement,
                                          spec.key.field, span[0], span[1],
                                          BUCKETS_PER_SIGNAL, spec.key.series)
                       for index, ((data, spec, _), span) in enumerate(zip(tasks, spans,
                                                                           strict=True))
                       if span is not None}
        for index, (data, spec, limit) in enumerate(tasks):
            buckets, width = results[index], width_s
            if index in refined and (finer := refined[index].result()):
                first, last = spans[index]
                buckets, width = finer, bucket_width_us(first, last, BUCKETS_PER_SIGNAL) / 1e6
            data.signals.append(SignalData(spec, buckets, signal_stats(
                buckets, width, limit.warning, limit.critical, limit.low_is_bad),
                limit if limit.enabled else None, width))
    return ReportData(list(robot_ids), start, stop, robot_data,
                      gather_alerts(database, robot_ids, start, stop, alerts_of),
                      gather_jobs(database, robot_ids, start, stop))


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return str(timedelta(seconds=round(seconds)))
