"""History store on SQL: SQLite for the embedded default, PostgreSQL on a lab server.

Downsampling happens in the database (GROUP BY bucket number), so a 30-day chart moves
at most `max_points` rows over the wire.  Wide buckets are answered from per-minute
rollups (`sql_rollups`) that every write keeps in step.  The schema lives in
`sql_schema` and is created by Alembic (revisions 0002 and 0004), never by this module.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Engine,
    Select,
    Table,
    create_engine,
    event,
    func,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from services.history.base import (
    Bucket,
    SeriesKey,
    StoreError,
    StoreRefused,
    bucket_width_us,
)
from services.history.sql_rollups import (
    BucketRow,
    NewPointsInsert,
    aggregate_points,
    greatest,
    least,
    merge_partials,
    rollup_bucket_select,
    rollup_upsert,
    uses_rollups,
)
from services.history.sql_schema import (
    FIELD_MAX_CHARS,
    MEASUREMENT_MAX_CHARS,
    ROBOT_ID_MAX_CHARS,
    SERIES_MAX_CHARS,
    sample_series,
    samples,
)
from services.wire.model import Sample

logger = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
PG_CONNECT_TIMEOUT_S = 5
SQLITE_BUSY_TIMEOUT_S = 10.0
NAME_CHECK_CACHE_SIZE = 4096
INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
SERIES_KEY_COLUMNS = ("robot_id", "measurement", "field", "series")

CatalogKey = tuple[str, str, str, str]  # robot_id, measurement, field, series


@dataclass(frozen=True, slots=True)
class SqlStoreStats:
    """Counters since the store was opened; rows are single field values."""

    samples_written: int = 0  # rows newly stored
    duplicates_ignored: int = 0  # rows already stored (redelivery, repeated in a batch)
    rejected_non_finite: int = 0  # NaN/inf values, skipped
    rejected_invalid: int = 0  # non-numeric values, over-long or NUL-bearing names


def to_epoch_us(moment: datetime) -> int:
    """UTC microseconds since the epoch, exact (no float round trip)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: history times must be aware")
    return (moment - EPOCH) // ONE_US


def bucket_select(robot_id: str, measurement: str, field: str, series: str,
                  start_us: int, stop_us: int, width_us: int, table: Table = samples
                  ) -> Select:
    """min/max/avg/count per bucket k = (ts_us - start_us) / width_us, k ascending.

    `table` is for benchmarks that compare against an unindexed copy of `samples`.
    The bucket number is computed in a subquery and grouped by name, because PostgreSQL
    cannot tell that two separately bound copies of the same expression are equal.
    """
    start = literal(start_us, BigInteger)
    width = literal(width_us, BigInteger)
    # `//` renders plain `/` for integer operands: integer division on both backends,
    # and truncation equals floor here because ts_us >= start_us.
    points = (
        select(((table.c.ts_us - start) // width).label("k"), table.c.value)
        .where(
            table.c.robot_id == robot_id,
            table.c.measurement == measurement,
            table.c.field == field,
            table.c.series == series,
            table.c.ts_us >= start,
            table.c.ts_us < literal(stop_us, BigInteger),
        )
        .subquery("points")
    )
    return (
        select(points.c.k, func.min(points.c.value), func.max(points.c.value),
               func.avg(points.c.value), func.count())
        .group_by(points.c.k)
        .order_by(points.c.k)
    )


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def _name_problem(robot_id: str, measurement: str, field: str, series: str) -> str | None:
    if not all(isinstance(name, str) for name in (robot_id, measurement, field, series)):
        return f"names must be strings: {(robot_id, measurement, field, series)!r:.120}"
    return _string_problem(robot_id, measurement, field, series)


@functools.lru_cache(maxsize=NAME_CHECK_CACHE_SIZE)  # the same few names arrive all day
def _string_problem(robot_id: str, measurement: str, field: str, series: str) -> str | None:
    for label, value, limit in (("robot_id", robot_id, ROBOT_ID_MAX_CHARS),
                                ("measurement", measurement, MEASUREMENT_MAX_CHARS),
                                ("field", field, FIELD_MAX_CHARS),
                                ("series", series, SERIES_MAX_CHARS)):
        if len(value) > limit or "\x00" in value:
            return f"{label} {value!r:.80} is not a string of at most {limit} characters"
    return None


class SqlHistoryStore:
    """HistoryStore over SQLAlchemy; safe to share between threads."""

    def __init__(self, url_or_engine: str | URL | Engine, *, password: str | None = None
                 ) -> None:
        self._password = password
        if isinstance(url_or_engine, Engine):
            self._engine = url_or_engine
            self._owns_engine = False
        else:
            url = make_url(url_or_engine)
            if url.drivername in ("postgresql", "postgres"):
                url = url.set(drivername="postgresql+psycopg")  # the driver we ship
            if password is not None:
                url = url.set(password=password)
            self._engine = _create_engine(url)
            self._owns_engine = True
        url = self._engine.url
        self._password = self._password or url.password
        self._where = (f"{url.host}:{url.port or 5432}/{url.database}" if url.host
                       else f"{url.get_backend_name()}:{url.database or 'memory'}")
        dialect = self._engine.dialect.name
        if dialect not in INSERTS:
            raise ValueError(f"unsupported database {dialect!r}: use sqlite or postgresql")
        self._insert = INSERTS[dialect]
        self._insert_points = NewPointsInsert(dialect)
        self._upsert_rollups = rollup_upsert(self._insert)
        self._lock = threading.Lock()
        self._stats = SqlStoreStats()
        # (robot, measurement, field, series) -> (first_us, last_us) known to be stored
        self._catalog: dict[CatalogKey, tuple[int, int]] = {}

    # --- writing -------------------------------------------------------------------

    def write(self, samples_in: Sequence[Sample]) -> None:
        rows, spans, non_finite, invalid, problem = _prepare(samples_in)
        if non_finite or invalid:
            logger.warning("history write skipped %d non-finite and %d invalid values%s",
                           non_finite, invalid, f" (e.g. {problem})" if problem else "")
        inserted = 0
        if rows:
            with self._guard("write"):
                with self._engine.begin() as conn:
                    stored = self._insert_points.execute(conn, rows)
                    inserted = len(stored)
                    self._update_catalog(conn, spans)
                    rollups = aggregate_points(stored)
                    if rollups:
                        conn.execute(self._upsert_rollups, rollups)
            self._remember(spans)
        with self._lock:
            s = self._stats
            self._stats = SqlStoreStats(
                samples_written=s.samples_written + inserted,
                duplicates_ignored=s.duplicates_ignored + len(rows) - inserted,
                rejected_non_finite=s.rejected_non_finite + non_finite,
                rejected_invalid=s.rejected_invalid + invalid,
            )

    def _update_catalog(self, conn, spans: dict[CatalogKey, tuple[int, int]]) -> None:
        with self._lock:
            known = {key: self._catalog.get(key) for key in spans}
        # Sorted so concurrent writers lock catalog rows in the same order (no deadlock).
        new = [key for key in sorted(spans) if known[key] is None]
        if new:
            stmt = self._insert(sample_series)
            stmt = stmt.on_conflict_do_update(
                index_elements=list(SERIES_KEY_COLUMNS),
                set_={"first_us": least(stmt.excluded.first_us, sample_series.c.first_us),
                      "last_us": greatest(stmt.excluded.last_us, sample_series.c.last_us)},
            )
            conn.execute(stmt, [dict(zip(SERIES_KEY_COLUMNS, key, strict=True),
                                     first_us=spans[key][0], last_us=spans[key][1])
                                for key in new])
        for key in sorted(spans):
            cached = known[key]
            if cached is None:
                continue
            first_us, last_us = spans[key]
            if first_us >= cached[0] and last_us <= cached[1]:
                continue  # the usual case: a batch inside the known range costs nothing
            where = [sample_series.c[name] == value
                     for name, value in zip(SERIES_KEY_COLUMNS, key, strict=True)]
            conn.execute(sample_series.update().where(*where).values(
                first_us=least(literal(first_us, BigInteger), sample_series.c.first_us),
                last_us=greatest(literal(last_us, BigInteger), sample_series.c.last_us)))

    def _remember(self, spans: dict[CatalogKey, tuple[int, int]]) -> None:
        # Only after commit: a rolled-back catalog row must not be taken as stored.
        with self._lock:
            for key, (first_us, last_us) in spans.items():
                cached = self._catalog.get(key)
                if cached is not None:
                    first_us, last_us = min(first_us, cached[0]), max(last_us, cached[1])
                self._catalog[key] = (first_us, last_us)

    # --- reading -------------------------------------------------------------------

    def query(self, robot_id: str, measurement: str, field: str, start: datetime,
              stop: datetime, max_points: int = 500, series: str = "") -> list[Bucket]:
        start_us, stop_us = to_epoch_us(start), to_epoch_us(stop)
        width_us = bucket_width_us(start, stop, max_points)
        # bucket_width_us goes through float seconds and can come out 1 us short, which
        # would open a bucket number max_points; the exact span keeps the promise.
        width_us = max(width_us, -(-(stop_us - start_us) // max_points))
        origin = EPOCH + timedelta(microseconds=start_us)
        return [Bucket(start=origin + timedelta(microseconds=k * width_us),
                       min=lo, max=hi, mean=mean, count=count)
                for k, lo, hi, mean, count in self.bucket_rows(
                    robot_id, str(measurement), field, series, start_us, stop_us, width_us)]

    def bucket_rows(self, robot_id: str, measurement: str, field: str, series: str,
                    start_us: int, stop_us: int, width_us: int, *, rollups: bool = True
                    ) -> list[BucketRow]:
        """(k, min, max, mean, count) per non-empty bucket k = (ts_us - start_us) //
        width_us, ascending; from rollups where they pay off unless `rollups` is False
        (benchmarks and tests compare the two paths)."""
        if stop_us <= start_us or width_us < 1:
            raise ValueError(f"empty range or width: [{start_us}, {stop_us}) by {width_us} us")
        with self._guard("query"), self._engine.connect() as conn:
            if not (rollups and uses_rollups(width_us)):
                rows = conn.execute(bucket_select(robot_id, measurement, field, series,
                                                  start_us, stop_us, width_us)).all()
                return [(int(k), float(lo), float(hi), float(mean), int(count))
                        for k, lo, hi, mean, count in rows]
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                # The planner cannot size the edge ranges and overestimates the query
                # enough to JIT-compile it, which costs more than the query itself.
                conn.exec_driver_sql("SET LOCAL jit = off")
            return merge_partials(conn.execute(rollup_bucket_select(
                robot_id, measurement, field, series, start_us, stop_us, width_us,
                lateral=postgres)).all())

    def list_robots(self) -> list[str]:
        stmt = select(sample_series.c.robot_id).distinct()
        with self._guard("list_robots"), self._engine.connect() as conn:
            robots = conn.execute(stmt).scalars().all()
        return sorted(robots)  # Python order, not the server's collation

    def list_fields(self, robot_id: str) -> list[SeriesKey]:
        stmt = (select(sample_series.c.measurement, sample_series.c.field,
                       sample_series.c.series)
                .where(sample_series.c.robot_id == robot_id))
        with self._guard("list_fields"), self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [SeriesKey(measurement=m, field=f, series=s) for m, f, s in sorted(rows)]

    def stats(self) -> SqlStoreStats:
        with self._lock:
            return self._stats

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()

    @property
    def engine(self) -> Engine:
        return self._engine

    def _guard(self, operation: str) -> _ErrorGuard:
        return _ErrorGuard(operation, self._where, self._password)


class _ErrorGuard:
    """Turns SQLAlchemy/driver errors into StoreError naming the host, never a secret."""

    def __init__(self, operation: str, where: str, password: str | None) -> None:
        self._operation, self._where, self._password = operation, where, password

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None or not isinstance(exc, SQLAlchemyError):
            return False
        # The driver's own message, not SQLAlchemy's (which appends SQL and parameters).
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        message = _redact(f"history {self._operation} failed on {self._where}: "
                          f"{type(exc).__name__}: {detail[0] if detail else ''}",
                          self._password)
        logger.error("%s", message)
        # A value the database refuses fails the same way on every retry.
        refused = isinstance(exc, DataError | IntegrityError)
        raise (StoreRefused if refused else StoreError)(message) from None


def _prepare(batch: Iterable[Sample]) -> tuple[
        list[dict], dict[CatalogKey, tuple[int, int]], int, int, str | None]:
    """Rows to insert, their catalog spans, counts of rejected values, one example."""
    rows: list[dict] = []
    spans: dict[CatalogKey, tuple[int, int]] = {}
    non_finite = invalid = 0
    first_problem: str | None = None  # one example per batch, not a log line per value
    for sample in batch:
        ts_us = to_epoch_us(sample.time)  # naive time: ValueError, nothing written
        robot_id, measurement, series = sample.robot_id, str(sample.measurement), \
            sample.series
        for field, value in sample.fields.items():
            problem = _name_problem(robot_id, measurement, field, series)
            if problem is None and (isinstance(value, str)
                                    or not isinstance(value, int | float)):
                problem = f"value {value!r:.40} of {field!r:.40} is not a number"
            if problem is not None:
                invalid += 1
                first_problem = first_problem or problem
                continue
            number = float(value)  # bool -> 1.0/0.0
            if not math.isfinite(number):
                non_finite += 1
                continue
            rows.append({"robot_id": robot_id, "measurement": measurement, "field": field,
                         "series": series, "ts_us": ts_us, "value": number,
                         "seq": sample.seq})
            key = (robot_id, measurement, field, series)
            span = spans.get(key)
            spans[key] = (ts_us, ts_us) if span is None else (
                min(ts_us, span[0]), max(ts_us, span[1]))
    return rows, spans, non_finite, invalid, first_problem


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        if url.database and url.database != ":memory:":
            event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True,
                             connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S})
    return create_engine(url)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the console read while ingest writes; FULL keeps "stored when write
    # returns" true across a power cut.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
