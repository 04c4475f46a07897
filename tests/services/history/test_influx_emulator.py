"""The InfluxDB v2 emulator: line protocol, HTTP behaviour, parameters, annotated CSV."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from services.history import influx_flux as flux
from tests.support.influx_emulator import InfluxEmulator
from tests.support.influx_flux_answers import (
    Column,
    Duration,
    Table,
    TimeNs,
    format_rfc3339_ns,
    parse_rfc3339_ns,
    to_annotated_csv,
)
from tests.support.influx_line_protocol import LineProtocolError, UInt, parse_line, parse_lines

NOW_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def one(line: str, precision: str = "ns"):
    return parse_line(line, precision, NOW_NS)


# -- line protocol -------------------------------------------------------------------

def test_escapes_in_measurement_tags_and_field_keys():
    point = one(r"my\ meas\,x,t\ k\=1=v\,a\ b\=c,plain=a\b f\,k\=\ x=1 5")
    assert point.measurement == "my meas,x"
    assert point.tags == {"t k=1": "v,a b=c", "plain": r"a\b"}
    assert point.fields == {"f,k= x": 1.0}
    assert point.time_ns == 5


def test_a_backslash_before_a_separator_escapes_it_like_influxdb():
    # Literal backslash then comma: the comma stays escaped, the backslash literal.
    assert one(r"m,t=a\\,b f=1 1").tags == {"t": r"a\,b"}
    assert one(r"m,t=a\b\=\ c f=1 1").tags == {"t": r"a\b= c"}


def test_field_value_types():
    point = one('m s="a \\"q\\" \\\\ , =x",i=-5i,u=7u,f=1,g=-1.5,e=1e3,h=.5,'
                "b1=t,b2=TRUE,b3=True,b4=true,b5=f,b6=F,b7=false,b8=FALSE 9")
    assert point.fields == {
        "s": 'a "q" \\ , =x', "i": -5, "u": 7, "f": 1.0, "g": -1.5, "e": 1000.0, "h": 0.5,
        "b1": True, "b2": True, "b3": True, "b4": True,
        "b5": False, "b6": False, "b7": False, "b8": False,
    }
    assert isinstance(point.fields["i"], int) and not isinstance(point.fields["i"], UInt)
    assert isinstance(point.fields["u"], UInt)
    assert isinstance(point.fields["f"], float)


@pytest.mark.parametrize(("precision", "factor"),
                         [("ns", 1), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000)])
def test_timestamp_precisions(precision, factor):
    assert one("m f=1 1767225600", precision).time_ns == 1767225600 * factor
    assert one("m f=1 -3", precision).time_ns == -3 * factor


def test_missing_timestamp_takes_the_server_clock_and_comments_are_skipped():
    points = parse_lines("# a comment\n\nm f=1\r\n  m,t=x f=2 7\n", "ns", NOW_NS)
    assert [(p.tags, p.fields, p.time_ns) for p in points] == [
        ({}, {"f": 1.0}, NOW_NS), ({"t": "x"}, {"f": 2.0}, 7)]


@pytest.mark.parametrize("line", [
    "m", "m ", "m f", "m f=", "m =1", ",t=1 f=1", "m,t= f=1", "m,=v f=1", "m,t f=1",
    "m,t=1,t=2 f=1", "m f=1.2.3", "m f=nan", "m f=inf", "m f=1x", 'm f="open', 'm f="a"b',
    "m f=1 12a", "m f=1 1 2", "m f=9223372036854775808i", "m f=-1u", "m f=1,", "m f=1,g",
])
def test_malformed_lines_are_rejected(line):
    with pytest.raises(LineProtocolError):
        one(line)


def test_unknown_precision_is_rejected():
    with pytest.raises(ValueError, match="precision"):
        parse_lines("m f=1 1", "h", NOW_NS)


# -- times and CSV -------------------------------------------------------------------

@pytest.mark.parametrize(("text", "time_ns"), [
    ("1970-01-01T00:00:00Z", 0),
    ("2026-01-01T00:00:00.5Z", NOW_NS + 500_000_000),
    ("2024-02-29T23:59:59.123456789Z", 1_709_251_199_123_456_789),
    ("1969-12-31T23:59:59.000001Z", -999_999_000),
    ("2262-04-11T23:47:16.854775806Z", 9_223_372_036_854_775_806),
])
def test_rfc3339_round_trip(text, time_ns):
    assert parse_rfc3339_ns(text) == time_ns
    assert format_rfc3339_ns(time_ns) == text


def test_annotated_csv_layout():
    tables = [
        Table([Column("_value", "string")], [["a,b"], ['q"']]),
        Table([Column("_value", "string")], [["c"]]),
        Table([Column("_start", "dateTime:RFC3339"), Column("v", "double", True)],
              [[TimeNs(1_500_000_000), 0.00001]]),
    ]
    assert to_annotated_csv(tables) == (
        "#datatype,string,long,string\r\n#group,false,false,false\r\n#default,_result,,\r\n"
        ',result,table,_value\r\n,,0,"a,b"\r\n,,0,"q"""\r\n,,1,c\r\n'
        "\r\n#datatype,string,long,dateTime:RFC3339,double\r\n#group,false,false,false,true\r\n"
        "#default,_result,,,\r\n,result,table,_start,v\r\n,,2,1970-01-01T00:00:01.5Z,0.00001\r\n"
        "\r\n")


# -- over HTTP -----------------------------------------------------------------------

@pytest.fixture
def emulator() -> Iterator[InfluxEmulator]:
    emu = InfluxEmulator().start()
    yield emu
    emu.stop()


def post(emu: InfluxEmulator, path: str, body: bytes, token: str | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(emu.url + path, data=body, method="POST")
    request.add_header("Authorization", f"Token {token or emu.token}")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


WRITE = "/api/v2/write?org=tonypi&bucket=robot_metrics&precision=s"


def test_write_stores_points_and_needs_the_token(emulator):
    assert post(emulator, WRITE, b"m,t=a f=1 10\nn,t=b f=2i 10")[0] == 204
    assert [(p.measurement, p.tags, p.fields, p.time_ns) for p in emulator.points] == [
        ("m", {"t": "a"}, {"f": 1.0}, 10_000_000_000), ("n", {"t": "b"}, {"f": 2}, 10_000_000_000)]
    status, body = post(emulator, WRITE, b"m f=3 11", token="wrong")
    assert status == 401 and json.loads(body)["code"] == "unauthorized"
    assert emulator.write_requests == 2 and len(emulator.points) == 2


@pytest.mark.parametrize(("query", "status"), [
    ("org=tonypi&bucket=nope", 404), ("org=nope&bucket=robot_metrics", 404),
    ("bucket=robot_metrics", 400), ("org=tonypi&bucket=robot_metrics&precision=h", 400),
])
def test_write_rejects_unknown_org_bucket_and_precision(emulator, query, status):
    code, body = post(emulator, f"/api/v2/write?{query}", b"m f=1 1")
    assert code == status and json.loads(body)["message"]
    assert emulator.points == []


def test_one_malformed_line_rejects_the_request(emulator):
    status, body = post(emulator, WRITE, b"m f=1 1\nm f=oops 2\nm f=3 3")
    error = json.loads(body)
    assert status == 400 and error["code"] == "invalid"
    assert "unable to parse 'm f=oops 2'" in error["message"]
    assert emulator.points == []


def test_same_series_and_time_merge_fields_last_write_wins(emulator):
    post(emulator, WRITE, b"m,t=a f=1,g=true 5\nm,t=a f=2 5")
    post(emulator, WRITE, b"m,t=a h=3 5\nm,t=a f=9 6")
    assert [(p.fields, p.time_ns) for p in emulator.points] == [
        ({"f": 2.0, "g": True, "h": 3.0}, 5_000_000_000), ({"f": 9.0}, 6_000_000_000)]


def test_field_type_conflict_is_a_partial_write(emulator):
    post(emulator, WRITE, b"m f=1 1")
    status, body = post(emulator, WRITE, b"m f=true 2\nm f=3 3")
    assert status == 422 and "field type conflict" in json.loads(body)["message"]
    assert [p.fields["f"] for p in emulator.points] == [1.0, 3.0]


def test_gzip_bodies_are_decoded(emulator):
    status, _ = post(emulator, WRITE, gzip.compress(b"m f=1 1"),
                     headers={"Content-Encoding": "gzip"})
    assert status == 204 and emulator.points[0].fields == {"f": 1.0}
    client = InfluxDBClient(url=emulator.url, token=emulator.token, org="tonypi",
                            enable_gzip=True)
    try:
        client.write_api(write_options=SYNCHRONOUS).write("robot_metrics", record="m g=2 2")
    finally:
        client.close()
    assert emulator.points[1].fields == {"g": 2.0}


def test_injected_failures_answer_first(emulator):
    emulator.fail_next_writes(2, status=503)
    assert post(emulator, WRITE, b"m f=1 1")[0] == 503
    assert post(emulator, WRITE, b"m f=1 1")[0] == 503
    assert post(emulator, WRITE, b"m f=1 1")[0] == 204
    assert emulator.write_requests == 3


def test_health_and_ping(emulator):
    with urllib.request.urlopen(emulator.url + "/health", timeout=5) as response:
        assert json.loads(response.read())["status"] == "pass"
    with urllib.request.urlopen(emulator.url + "/ping", timeout=5) as response:
        assert response.status == 204 and response.headers["X-Influxdb-Version"]


def test_query_parameters_arrive_as_typed_literals(emulator):
    client = InfluxDBClient(url=emulator.url, token=emulator.token, org="tonypi")
    start = datetime(2026, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)
    try:
        client.query_api().query(flux.LIST_FIELDS, params={
            flux.P_BUCKET: "robot_metrics", flux.P_ROBOT_ID: 'x") |> drop(',
            flux.P_START: start, flux.P_STOP: start + timedelta(hours=1),
            "count": 3, "ratio": 0.5, "on": True, "width": timedelta(microseconds=1500),
            "back": timedelta(seconds=-2)})
    finally:
        client.close()
    from tests.support.influx_flux_answers import decode_extern

    params = decode_extern(emulator.query_bodies[-1]["extern"])
    assert params == {
        flux.P_BUCKET: "robot_metrics", flux.P_ROBOT_ID: 'x") |> drop(',
        flux.P_START: parse_rfc3339_ns("2026-01-01T00:00:00.25Z"),
        flux.P_STOP: parse_rfc3339_ns("2026-01-01T01:00:00.25Z"),
        "count": 3, "ratio": 0.5, "on": True, "width": Duration(1_500_000),
        "back": Duration(-2_000_000_000)}
    assert isinstance(params[flux.P_START], TimeNs)


def test_unknown_query_text_is_a_400(emulator):
    client = InfluxDBClient(url=emulator.url, token=emulator.token, org="tonypi")
    try:
        with pytest.raises(ApiException) as caught:
            client.query_api().query('from(bucket: "robot_metrics") |> range(start: -1h)')
        assert caught.value.status == 400 and "templates" in caught.value.message
        with pytest.raises(ApiException) as caught:
            client.query_api().query(flux.LIST_ROBOTS, params={flux.P_BUCKET: "robot_metrics"})
        assert caught.value.status == 400 and "p_start" in caught.value.message
    finally:
        client.close()


def test_query_needs_the_token_and_a_known_bucket(emulator):
    params = {flux.P_BUCKET: "elsewhere", flux.P_START: datetime(2026, 1, 1, tzinfo=UTC),
              flux.P_STOP: datetime(2026, 1, 2, tzinfo=UTC)}
    for token, status in (("wrong", 401), (emulator.token, 404)):
        client = InfluxDBClient(url=emulator.url, token=token, org="tonypi")
        try:
            with pytest.raises(ApiException) as caught:
                client.query_api().query(flux.LIST_ROBOTS, params=params)
            assert caught.value.status == status
        finally:
            client.close()
