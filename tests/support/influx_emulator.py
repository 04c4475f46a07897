"""An emulator of the InfluxDB v2 HTTP API, for testing the InfluxDB history store.

No InfluxDB 2 server can be installed on these machines, so tests start this one: a
ThreadingHTTPServer on a free 127.0.0.1 port that influxdb-client 1.50 talks to as it
would to InfluxDB 2.7.

Covered:
- GET /health (JSON, status pass), GET/HEAD /ping (204, X-Influxdb-Version).
- POST /api/v2/write?org=&bucket=&precision=: `Authorization: Token <t>` (401 without),
  404 for an unknown org or bucket, 400 for an unknown precision, gzip request bodies,
  real line-protocol parsing (tests/support/influx_line_protocol.py, the rules of
  InfluxDB's models/points.go); one malformed line rejects the whole request with 400
  and an InfluxDB-style JSON error, nothing stored.  Points with the same measurement,
  tag set and time merge their fields, the last write winning, as in InfluxDB.  A field
  written with another type than before (per measurement) drops its point: 422 partial
  write, the other points stored.  204 on success.
- POST /api/v2/query?org=: the JSON body influxdb-client sends ({"query", "extern",
  "dialect"}).  The query text must be one of the history store's templates
  (services.history.influx_flux); `extern` parameters are decoded from their typed
  literals and the answer is computed from the stored points and returned as annotated
  CSV (tests/support/influx_flux_answers.py).  Any other query text: 400 with an
  error JSON.
- Fault injection: fail_next_writes(n, status), fail_next_queries(n, status),
  write_delay_s; the counters write_requests, query_requests, open_connections.

Not covered: Flux in general (no interpreter), the management API (/api/v2/buckets,
orgs, authorizations, setup), org or bucket ids instead of names, retention,
shards (field types are tracked per measurement for the whole bucket), deletes,
InfluxQL /query and the v1 /write endpoint, gzip responses, rate limits.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.influx_flux_answers import FluxError, answer, decode_extern, to_annotated_csv
from tests.support.influx_line_protocol import LineProtocolError, ParsedPoint, UInt, parse_lines

logger = logging.getLogger(__name__)

VERSION = "v2.7.99-emulator"


@dataclass(frozen=True, slots=True)
class StoredPoint:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, Any]
    time_ns: int


def _field_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, UInt):
        return "unsigned"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    return "string"


class InfluxEmulator:
    def __init__(self, token: str = "test-token", org: str = "tonypi",
                 bucket: str = "robot_metrics") -> None:
        self.token = token
        self.org = org
        self.bucket = bucket
        self.write_delay_s = 0.0
        self.write_requests = 0
        self.query_requests = 0
        self.query_bodies: list[dict[str, Any]] = []
        self.open_connections = 0  # client connections currently kept alive
        self._lock = threading.Lock()
        # (measurement, sorted tags, time) -> fields; dicts keep first-write order.
        self._series: dict[tuple[str, tuple[tuple[str, str], ...], int], dict[str, Any]] = {}
        self._field_types: dict[tuple[str, str], str] = {}
        # Queued answers for the next requests; None lets one request through.
        self._write_faults: list[tuple[int, str] | None] = []
        self._query_faults: list[tuple[int, str] | None] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control -------------------------------------------------------------------

    def start(self) -> InfluxEmulator:
        handler = type("Handler", (_Handler,), {"emulator": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # A short poll interval: shutdown() waits for the serve loop to notice.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        name="influx-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next_writes(self, count: int, status: int = 503, message: str | None = None,
                         after: int = 0) -> None:
        """Answer `count` write requests with `status`, after letting `after` through."""
        with self._lock:
            self._write_faults += [None] * after
            self._write_faults += [(status, message or f"injected failure {status}")] * count

    def fail_next_queries(self, count: int, status: int = 503, message: str | None = None) -> None:
        with self._lock:
            self._query_faults += [(status, message or f"injected failure {status}")] * count

    @property
    def points(self) -> list[StoredPoint]:
        with self._lock:
            return [StoredPoint(measurement, dict(tags), dict(fields), time_ns)
                    for (measurement, tags, time_ns), fields in self._series.items()]

    def clear(self) -> None:
        with self._lock:
            self._series.clear()
            self._field_types.clear()

    # -- request handling (called from the handler threads) -------------------------

    def _next_fault(self, faults: list[tuple[int, str] | None]) -> tuple[int, str] | None:
        with self._lock:
            return faults.pop(0) if faults else None

    def handle_write(self, query: dict[str, str], headers: Any, body: bytes) -> tuple[int, Any]:
        with self._lock:
            self.write_requests += 1
        if self.write_delay_s:
            time.sleep(self.write_delay_s)
        fault = self._next_fault(self._write_faults)
        if fault is not None:
            return fault[0], _error(_code(fault[0]), fault[1])
        denied = self._check_access(headers, query.get("org"))
        if denied:
            return denied
        bucket = query.get("bucket")
        if not bucket:
            return 400, _error("invalid", "bucket is required")
        if bucket != self.bucket:
            return 404, _error("not found", f'bucket "{bucket}" not found')
        precision = query.get("precision", "ns")
        if headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError) as exc:
                return 400, _error("invalid", f"unable to decode gzip body: {exc}")
        try:
            text = body.decode("utf-8")
            points = parse_lines(text, precision, time.time_ns())
        except UnicodeDecodeError as exc:
            return 400, _error("invalid", f"body is not UTF-8: {exc}")
        except LineProtocolError as exc:
            return 400, _error("invalid", str(exc))
        except ValueError as exc:
            return 400, _error("invalid", str(exc))
        return self._store(points)

    def _store(self, points: list[ParsedPoint]) -> tuple[int, Any]:
        conflicts: list[str] = []
        with self._lock:
            for point in points:
                clash = self._type_clash(point)
                if clash:
                    conflicts.append(clash)
                    continue
                for key, value in point.fields.items():
                    self._field_types[(point.measurement, key)] = _field_type(value)
                series = (point.measurement, tuple(sorted(point.tags.items())), point.time_ns)
                self._series.setdefault(series, {}).update(point.fields)
        if conflicts:
            return 422, _error("unprocessable entity", "failure writing points to database: "
                               f"partial write: {conflicts[0]} dropped={len(conflicts)}")
        return 204, None

    def _type_clash(self, point: ParsedPoint) -> str | None:
        for key, value in point.fields.items():
            kind = _field_type(value)
            known = self._field_types.get((point.measurement, key), kind)
            if kind != known:
                return (f'field type conflict: input field "{key}" on measurement '
                        f'"{point.measurement}" is type {kind}, already exists as type {known}')
        return None

    def handle_query(self, query: dict[str, str], headers: Any, body: bytes) -> tuple[int, Any]:
        with self._lock:
            self.query_requests += 1
        fault = self._next_fault(self._query_faults)
        if fault is not None:
            return fault[0], _error(_code(fault[0]), fault[1])
        denied = self._check_access(headers, query.get("org"))
        if denied:
            return denied
        try:
            request = json.loads(body)
            if not isinstance(request, dict) or not isinstance(request.get("query"), str):
                raise ValueError("no query")
        except ValueError:
            return 400, _error("invalid", "failed to decode request body: expected a JSON "
                                          "object with a query")
        with self._lock:
            self.query_bodies.append(request)
        if request.get("type", "flux") != "flux":
            return 400, _error("invalid", f"unsupported query type {request['type']!r}")
        try:
            params = decode_extern(request.get("extern"))
            tables = answer(request["query"], params, self.points, self.bucket)
        except FluxError as exc:
            return exc.status, _error(exc.code, exc.message)
        return 200, to_annotated_csv(tables)

    def _check_access(self, headers: Any, org: str | None) -> tuple[int, Any] | None:
        if headers.get("Authorization", "") != f"Token {self.token}":
            return 401, _error("unauthorized", "unauthorized access")
        if not org:
            return 400, _error("invalid", "Please provide either orgID or org")
        if org != self.org:
            return 404, _error("not found", f'organization name "{org}" not found')
        return None


def _code(status: int) -> str:
    return {400: "invalid", 401: "unauthorized", 404: "not found", 413: "request too large",
            422: "unprocessable entity", 429: "too many requests",
            503: "unavailable"}.get(status, "internal error")


def _error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


class _Handler(BaseHTTPRequestHandler):
    emulator: InfluxEmulator
    protocol_version = "HTTP/1.1"  # keep-alive, as InfluxDB; every reply has a length

    def setup(self) -> None:
        super().setup()
        with self.emulator._lock:
            self.emulator.open_connections += 1

    def finish(self) -> None:
        with self.emulator._lock:
            self.emulator.open_connections -= 1
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.debug("influx emulator: %s", format % args)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status: int, payload: Any, head_only: bool = False) -> None:
        if payload is None:
            data, content_type = b"", None
        elif isinstance(payload, str):
            data, content_type = payload.encode(), "text/csv; charset=utf-8"
        else:
            data, content_type = json.dumps(payload).encode(), "application/json; charset=utf-8"
        self.send_response(status)
        self.send_header("X-Influxdb-Version", VERSION)
        self.send_header("X-Influxdb-Build", "OSS")
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and not head_only:
            self.wfile.write(data)

    def _route(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        return parts.path, query

    def do_GET(self) -> None:  # noqa: N802
        path, _ = self._route()
        if path == "/health":
            self._reply(200, {"name": "influxdb", "message": "ready for queries and writes",
                              "status": "pass", "checks": [], "version": VERSION,
                              "commit": "emulator"})
        elif path == "/ping":
            self._reply(204, None)
        else:
            self._reply(404, _error("not found", "path not found"))

    def do_HEAD(self) -> None:  # noqa: N802
        path, _ = self._route()
        self._reply(204 if path == "/ping" else 404, None, head_only=True)

    def do_POST(self) -> None:  # noqa: N802
        body = self._body()  # read first: a keep-alive connection must stay in sync
        path, query = self._route()
        if path == "/api/v2/write":
            status, payload = self.emulator.handle_write(query, self.headers, body)
        elif path == "/api/v2/query":
            status, payload = self.emulator.handle_query(query, self.headers, body)
        else:
            status, payload = 404, _error("not found", "path not found")
        self._reply(status, payload)
