import json
from datetime import UTC, datetime, timedelta

import pytest

from services.wire import Measurement, ParseError, ParseErrorReason, parse_message
from services.wire.encode import encode

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
R = ParseErrorReason


def test_own_format_round_trip_keeps_robot_clock_and_seq():
    ts = NOW - timedelta(seconds=30)
    topic, payload = encode("servos", "tonypi_01", 41, {"servos": [
        {"id": 3, "name": "Left Knee", "position": 5.0, "temperature": 50.5, "voltage": 7.4,
         "load": 30.0, "torque_enabled": True}]}, ts)
    message = parse_message(topic, payload, NOW)
    assert (message.seq, message.time, message.legacy) == (41, ts, False)
    (sample,) = message.samples
    assert sample.tags == {"servo_id": "servo_3"} and sample.seq == 41
    assert sample.fields["load"] == 30.0


@pytest.mark.parametrize(("kind", "data", "check"), [
    ("performance", {"cpu_percent": 5.0, "cpu_temperature": None, "uptime_s": 9},
     lambda m: m.samples[0].fields == {"cpu_percent": 5.0, "uptime_s": 9.0}),
    ("battery", {"percentage": 50.0, "voltage": 11.1, "current": None, "charging": True},
     lambda m: m.samples[0].fields["charging"] is True),
    ("imu", {"accel_z": 9.8, "gyro_x": 0.1},
     lambda m: m.samples[0].measurement is Measurement.IMU),
    ("sensors", {"readings": [{"sensor_type": "ultrasonic_distance", "value": 30, "unit": "cm"}]},
     lambda m: m.samples[0].tags == {"sensor_type": "ultrasonic_distance", "unit": "cm"}),
    ("status", {"status": "emergency_stopped", "emergency_stopped": True},
     lambda m: m.status.status == "error" and m.status.emergency_stopped),
    ("job", {"job_id": "j1", "task_name": "sort", "status": "started", "items_total": 4,
             "start_time": "2026-11-22T11:59:00+00:00"},
     lambda m: m.job.started and m.job.job_key == "j1" and m.job.start_time.tzinfo is not None),
    ("logs", {"level": "error", "message": "boom", "source": "agent"},
     lambda m: m.log.level == "ERROR"),
])
def test_own_kinds(kind, data, check):
    topic, payload = encode(kind, "tonypi_01", 1, data, NOW)
    assert check(parse_message(topic, payload, NOW))


def own(data=None, **override):
    body = {"v": 1, "robot_id": "r1", "seq": 1, "ts": NOW.isoformat(),
            "data": data if data is not None else {"cpu_percent": 1.0}}
    body.update(override)
    return json.dumps(body).encode()


@pytest.mark.parametrize(("topic", "payload", "reason"), [
    ("tonypi/performance/r1", b"{not json", R.BAD_JSON),
    ("tonypi/performance/r1", b"\xff\xfe", R.BAD_JSON),
    ("tonypi/performance/r1", b"[1, 2]", R.NOT_AN_OBJECT),
    ("tonypi/performance/r1", b'{"v": 1, "data": {"cpu_percent": NaN}}', R.BAD_JSON),
    ("tonypi/performance/r1", b'{"robot_id": "r1", "x": Infinity}', R.BAD_JSON),
    ("tonypi/performance/r1", b"[" * 100_000 + b"]" * 100_000, R.BAD_JSON),
    ("tonypi/performance/r1", b" " * (10 * 1024 * 1024), R.OVERSIZED),
    ("tonypi/performance/r1", own({"cpu_percent": "high"}), R.BAD_FIELD),
    ("tonypi/performance/r1", own({"cpu_percent": True}), R.BAD_FIELD),
    ("tonypi/performance/r1", own({"cpu_percent": 1.0}).replace(b"1.0", b"1e400"), R.BAD_FIELD),
    ("tonypi/performance/r1", own(ts="2026-11-22T12:00:00"), R.BAD_FIELD),
    ("tonypi/performance/r1", own(v=99), R.UNSUPPORTED_VERSION),
    ("tonypi/performance/r1", own(robot_id="r2"), R.ROBOT_ID_MISMATCH),
    ('tonypi/performance/x") |> drop(', own(robot_id='x") |> drop('), R.BAD_ROBOT_ID),
    ("tonypi/battery", json.dumps({"robot_id": "a'; DROP TABLE robots;--"}).encode(),
     R.BAD_ROBOT_ID),
    ("tonypi/battery", json.dumps({"robot_id": "../../etc"}).encode(), R.BAD_ROBOT_ID),
    ("tonypi/battery", json.dumps({"robot_id": 7}).encode(), R.BAD_ROBOT_ID),
    ("tonypi/battery", json.dumps({"percentage": 5}).encode(), R.MISSING_FIELD),
    ("tonypi/sensors/r1", json.dumps({"sensor_type": "a b\"c", "value": 1}).encode(),
     R.BAD_FIELD),
    ("tonypi/servos/r1", json.dumps({"servos": {"s": "x"}}).encode(), R.BAD_FIELD),
    ("tonypi/teleport/r1", b"{}", R.UNKNOWN_TOPIC),
    ("other/status/r1", b"{}", R.UNKNOWN_TOPIC),
    ("tonypi/status/r1/extra", b"{}", R.UNKNOWN_TOPIC),
])
def test_bad_input_gives_typed_error(topic, payload, reason):
    with pytest.raises(ParseError) as info:
        parse_message(topic, payload, NOW)
    assert info.value.reason == reason
    assert info.value.topic == topic
