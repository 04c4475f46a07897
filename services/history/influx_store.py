"""History store on InfluxDB 2, written through influxdb-client's batching WriteApi.

Durability: the batching WriteApi never raises; it reports each batch to a success or
an error callback and then forgets it.  `write()` therefore registers every line it
submits as pending (a multiset per call, keyed by the exact line bytes), and the
callbacks resolve pending lines from the batch data they receive.  `write()` returns
only when InfluxDB has confirmed all of its lines, and raises StoreError when one of
them was in a batch the error callback reported or nothing was heard within
`write_timeout_s`.  Lines are attributed first-in first-out; two identical lines are
the same point, so a confirmation of either content is a confirmation of both.

Exactly-once: a point is identified by measurement, tag set and time; writing the
same line again overwrites the point with identical values.  A redelivered MQTT
message (after a failed or timed-out write) therefore stores nothing twice.

Line protocol comes from services.history.influx_line (escaping as InfluxDB's own
parser reads it; tag values ending in a backslash are stored reversibly padded).
Samples it cannot carry are refused with a log line and a counter; a naive timestamp
is a programming error (ValueError) and nothing of that call is written.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import urllib3
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.flux_csv_parser import FluxCsvParserException, FluxQueryException
from influxdb_client.client.write_api import WriteOptions
from reactivex.scheduler import ThreadPoolScheduler

from services.history import influx_flux as flux
from services.history.base import (
    Bucket,
    SeriesKey,
    StoreError,
    StoreRefused,
    bucket_width_us,
)
from services.history.influx_line import (
    UnencodableSampleError,
    encode_sample,
    from_tag_value,
    to_tag_value,
)
from services.wire.model import Sample

logger = logging.getLogger(__name__)

RETRY_INTERVAL_MS = 200
MAX_RETRY_DELAY_MS = 5_000
MAX_RETRIES = 5
CLOSE_MARGIN_S = 5.0
# Answers that mean "never with these lines" (bad line protocol, too large, unprocessable);
# 401/403/404 are a configuration fault that affects every write, so they are retried.
REFUSED_HTTP_STATUSES = frozenset({400, 413, 422})
ALL_TIME_START = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE_MARGIN = timedelta(days=366)  # robots with fast clocks still get listed

_EPOCH = ALL_TIME_START


@dataclass(frozen=True, slots=True)
class InfluxStoreStats:
    lines_written: int = 0  # lines InfluxDB confirmed
    lines_failed: int = 0  # lines in batches the error callback reported
    batches_failed: int = 0
    retries: int = 0  # retryable errors (429, 5xx, connection) the client retried
    write_timeouts: int = 0  # write() calls that gave up waiting for confirmation
    samples_rejected: int = 0  # samples line protocol cannot carry
    fields_dropped: int = 0  # non-finite, non-numeric or reserved fields left out


@dataclass(eq=False)
class _PendingWrite:
    lines: list[bytes]
    remaining: int
    done: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)
    refused: bool = False  # InfluxDB answered that it will never take these lines


class InfluxHistoryStore:
    """HistoryStore on an InfluxDB 2 bucket; tag robot_id plus the sample's own tags."""

    def __init__(self, url: str, org: str, bucket: str, token: str, *,
                 batch_size: int = 5000, flush_interval_ms: int = 100,
                 write_timeout_s: float = 30.0) -> None:
        self._url = url
        self._org = org
        self._bucket = bucket
        self._token = token
        self._write_timeout_s = write_timeout_s
        self._lock = threading.Lock()  # pending lines and counters
        self._submit_lock = threading.Lock()  # the client's rx Subject is not thread-safe
        self._waiting: dict[bytes, deque[_PendingWrite]] = {}
        self._counts: dict[str, int] = dict.fromkeys(
            (stat.name for stat in fields(InfluxStoreStats)), 0)
        self._closed = False
        timeout_ms = max(1, int(write_timeout_s * 1000))
        self._client = InfluxDBClient(url=url, token=token, org=org, timeout=timeout_ms)
        # WriteOptions' default scheduler is one thread shared by every WriteApi in the
        # process: a store retrying against a dead server would stall all the others.
        self._scheduler = ThreadPoolScheduler(max_workers=1)
        options = WriteOptions(
            batch_size=batch_size, flush_interval=flush_interval_ms,
            retry_interval=RETRY_INTERVAL_MS, max_retries=MAX_RETRIES,
            max_retry_delay=MAX_RETRY_DELAY_MS, max_retry_time=timeout_ms,
            exponential_base=2,
            max_close_wait=int((write_timeout_s + CLOSE_MARGIN_S) * 1000),
            write_scheduler=self._scheduler,
        )
        self._write_api = self._client.write_api(
            write_options=options, success_callback=self._on_success,
            error_callback=self._on_error, retry_callback=self._on_retry,
        )
        self._query_api = self._client.query_api()

    @property
    def url(self) -> str:
        return self._url

    # -- writing -------------------------------------------------------------------

    def write(self, samples: Sequence[Sample]) -> None:
        if self._closed:
            raise StoreError(f"InfluxDB store for {self._url} is closed")
        lines = self._encode(samples)
        if not lines:
            return
        pending = _PendingWrite(lines=lines, remaining=len(lines))
        with self._lock:  # registered before submitting: callbacks may come at once
            for line in lines:
                self._waiting.setdefault(line, deque()).append(pending)
        try:
            with self._submit_lock:
                self._write_api.write(bucket=self._bucket, org=self._org, record=lines,
                                      write_precision=WritePrecision.NS)
        except Exception as exc:  # only queues; failing means the WriteApi is gone
            self._forget(pending)
            raise StoreError(f"cannot queue writes for InfluxDB at {self._url}: "
                             f"{self._describe(exc)}") from exc
        if not pending.done.wait(self._write_timeout_s):
            self._forget(pending)
            self._count("write_timeouts")
            raise StoreError(
                f"InfluxDB at {self._url} did not confirm {pending.remaining} of "
                f"{len(lines)} line(s) within {self._write_timeout_s:g} s")
        if pending.errors:
            self._forget(pending)  # its other lines settle later, unclaimed
            error = StoreRefused if pending.refused else StoreError
            raise error(f"InfluxDB at {self._url} did not store a batch holding "
                             f"line(s) of this write: {pending.errors[0]}")

    def _encode(self, samples: Sequence[Sample]) -> list[bytes]:
        lines: list[bytes] = []
        naive = [sample for sample in samples if sample.time.tzinfo is None]
        if naive:
            raise ValueError(f"{len(naive)} sample(s) with a naive timestamp, "
                             f"e.g. {naive[0].time.isoformat()}; nothing written")
        for sample in samples:
            try:
                line, dropped = encode_sample(sample)
            except UnencodableSampleError as exc:
                self._count("samples_rejected")
                logger.warning("not storing a %s sample of robot %r: %s",
                               sample.measurement, sample.robot_id, exc)
                continue
            if dropped:
                self._count("fields_dropped", len(dropped))
                logger.warning("not storing field(s) %s of a %s sample of robot %r: "
                               "not a finite number or boolean, or a reserved name",
                               ", ".join(dropped), sample.measurement, sample.robot_id)
            lines.append(line)
        return lines

    def _forget(self, pending: _PendingWrite) -> None:
        with self._lock:
            for line in set(pending.lines):
                queue = self._waiting.get(line)
                if queue is None:
                    continue
                kept = deque(other for other in queue if other is not pending)
                if kept:
                    self._waiting[line] = kept
                else:
                    del self._waiting[line]

    @staticmethod
    def _lines(data: bytes | str) -> list[bytes]:
        return (data.encode() if isinstance(data, str) else data).split(b"\n")

    def _resolve(self, lines: list[bytes], error: str | None, refused: bool = False) -> None:
        """Settle the pending lines of one batch, waking the write() calls they finish."""
        unclaimed = 0
        with self._lock:
            for line in lines:
                queue = self._waiting.get(line)
                if not queue:
                    unclaimed += 1  # its write() already gave up (timeout or error)
                    continue
                pending = queue.popleft()
                if not queue:
                    del self._waiting[line]
                pending.remaining -= 1
                if error is not None:
                    pending.errors.append(error)
                    pending.refused = pending.refused or refused
                    pending.done.set()
                elif pending.remaining == 0:
                    pending.done.set()
        if unclaimed:
            logger.info("InfluxDB at %s settled %d line(s) no write() waits for any more",
                        self._url, unclaimed)

    # Counted and logged before waking the waiters: when write() returns or raises,
    # stats() and the log already show its batch.
    def _on_success(self, _conf: tuple[str, str, str], data: bytes | str) -> None:
        lines = self._lines(data)
        self._count("lines_written", len(lines))
        self._resolve(lines, None)

    def _on_error(self, _conf: tuple[str, str, str], data: bytes | str,
                  exception: Exception) -> None:
        lines = self._lines(data)
        reason = self._describe(exception)
        self._count("batches_failed")
        self._count("lines_failed", len(lines))
        logger.error("InfluxDB at %s did not store a batch of %d line(s): %s",
                     self._url, len(lines), reason)
        refused = getattr(exception, "status", None) in REFUSED_HTTP_STATUSES
        self._resolve(lines, reason, refused)

    def _on_retry(self, _conf: tuple[str, str, str], data: bytes | str,
                  exception: Exception) -> None:
        self._count("retries")
        logger.warning("InfluxDB at %s: retrying a batch of %d line(s) after: %s",
                       self._url, len(self._lines(data)), self._describe(exception))

    def _count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def stats(self) -> InfluxStoreStats:
        with self._lock:
            return InfluxStoreStats(**self._counts)

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, InfluxDBError):
            status = getattr(exc, "status", None)
            message = exc.message
            if isinstance(message, bytes):
                message = message.decode("utf-8", "replace")
            text = f"HTTP {status}: {message}" if status else str(message)
        elif isinstance(exc, urllib3.exceptions.MaxRetryError):
            text = f"gave up after retries: {exc.reason}"
        else:
            text = f"{type(exc).__name__}: {exc}"
        return text.replace(self._token, "<token>") if self._token else text

    # -- reading -------------------------------------------------------------------

    def query(self, robot_id: str, measurement: str, field: str, start: datetime,
              stop: datetime, max_points: int = 500, series: str = "") -> list[Bucket]:
        if start.tzinfo is None or stop.tzinfo is None:
            raise ValueError("start and stop must be timezone-aware")
        width_us = bucket_width_us(start, stop, max_points)
        start_us = (start - _EPOCH) // timedelta(microseconds=1)
        tables = self._query(flux.DOWNSAMPLE, {
            flux.P_BUCKET: self._bucket,
            flux.P_ROBOT_ID: to_tag_value(robot_id),
            flux.P_MEASUREMENT: str(measurement),
            flux.P_FIELD: field,
            flux.P_SERIES: to_tag_value(series) if series else "",
            flux.P_START: start.astimezone(UTC),
            flux.P_STOP: stop.astimezone(UTC),
            flux.P_EVERY: timedelta(microseconds=width_us),
            flux.P_OFFSET: timedelta(microseconds=start_us % width_us),
        })
        buckets: list[Bucket] = []
        for values in tables:
            try:
                buckets.append(Bucket(
                    start=values["_start"].astimezone(UTC), min=float(values["min"]),
                    max=float(values["max"]), mean=float(values["mean"]),
                    count=round(values["count"]),
                ))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise StoreError(f"InfluxDB at {self._url} answered a downsampling "
                                 f"query with an unexpected row: {exc!r}") from exc
        return sorted(buckets, key=lambda bucket: bucket.start)

    def list_robots(self) -> list[str]:
        rows = self._query(flux.LIST_ROBOTS, {
            flux.P_BUCKET: self._bucket,
            flux.P_START: ALL_TIME_START,
            flux.P_STOP: datetime.now(UTC) + FUTURE_MARGIN,
        })
        return sorted({from_tag_value(str(values["_value"]))
                       for values in rows if values.get("_value")})

    def list_fields(self, robot_id: str) -> list[SeriesKey]:
        rows = self._query(flux.LIST_FIELDS, {
            flux.P_BUCKET: self._bucket,
            flux.P_ROBOT_ID: to_tag_value(robot_id),
            flux.P_START: ALL_TIME_START,
            flux.P_STOP: datetime.now(UTC) + FUTURE_MARGIN,
        })
        keys = {
            SeriesKey(measurement=str(values["_measurement"]), field=str(values["_field"]),
                      series=next((from_tag_value(str(values[tag])) for tag in flux.SERIES_TAGS
                                   if values.get(tag)), ""))
            for values in rows
        }
        return sorted(keys, key=lambda key: (key.measurement, key.field, key.series))

    def _query(self, query: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run one template; the values of every record of every table."""
        if self._closed:
            raise StoreError(f"InfluxDB store for {self._url} is closed")
        try:
            tables = self._query_api.query(query, org=self._org, params=dict(params))
        except (InfluxDBError, FluxQueryException, FluxCsvParserException,
                urllib3.exceptions.HTTPError, OSError) as exc:
            raise StoreError(f"InfluxDB at {self._url} did not answer a query: "
                             f"{self._describe(exc)}") from exc
        return [record.values for table in tables for record in table.records]

    # -- lifecycle -----------------------------------------------------------------

    def close(self) -> None:
        """Flush queued batches (waits up to write_timeout_s + a margin), then release."""
        if self._closed:
            return
        self._closed = True
        try:
            self._write_api.close()
        finally:
            self._close_connections()
            self._client.close()
            self._scheduler.executor.shutdown(wait=False)

    def _close_connections(self) -> None:
        # The client's close() only forgets its urllib3 pools, and urllib3 2 no longer
        # closes forgotten pools: keep-alive sockets would stay open until a GC cycle.
        rest_client = getattr(self._client.api_client, "rest_client", None)
        pools = getattr(getattr(rest_client, "pool_manager", None), "pools", None)
        if pools is None:
            return
        for key in list(pools.keys()):
            pool = pools.get(key)
            if pool is not None:
                pool.close()
