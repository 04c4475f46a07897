import json
from datetime import UTC, datetime, timedelta

import pytest

from services.wire import Kind, Measurement, parse_message
from tests.services.wire.legacy_samples import (
    JOB_EVENT_STARTED,
    JOB_PROGRESS,
    LEGACY_MESSAGES,
    RID,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def parse(topic, body):
    return parse_message(topic, json.dumps(body).encode(), NOW)


@pytest.mark.parametrize("topic", sorted(LEGACY_MESSAGES))
def test_every_legacy_topic_parses_under_receive_time(topic):
    message = parse(topic, LEGACY_MESSAGES[topic])
    assert message.robot_id == RID
    assert message.legacy and message.seq is None
    assert message.time == NOW  # robot-local clocks carry no offset


def test_status_carries_system_info_as_performance_sample():
    message = parse(f"tonypi/status/{RID}", LEGACY_MESSAGES[f"tonypi/status/{RID}"])
    assert message.status.status == "online"
    assert message.status.ip_address == "192.168.1.50"
    (sample,) = message.samples
    assert sample.measurement is Measurement.PERFORMANCE
    assert sample.fields == {"cpu_percent": 23.5, "memory_percent": 41.0, "disk_percent": 55.2,
                             "cpu_temperature": 61.3, "uptime_s": 3600.0}


def test_emergency_stopped_status_maps_to_error():
    body = dict(LEGACY_MESSAGES[f"tonypi/status/{RID}"], status="emergency_stopped",
                emergency_stopped=True, emergency_reason="button")
    status = parse(f"tonypi/status/{RID}", body).status
    assert (status.status, status.emergency_stopped, status.emergency_reason) == (
        "error", True, "button")


@pytest.mark.parametrize(("sensor_type", "measurement", "field"), [
    ("accelerometer_z", Measurement.IMU, "accel_z"),
    ("gyroscope_x", Measurement.IMU, "gyro_x"),
    ("system_cpu_percent", Measurement.PERFORMANCE, "cpu_percent"),
    ("cpu_temperature", Measurement.PERFORMANCE, "cpu_temperature"),
    ("light_level", Measurement.SENSORS, "value"),
])
def test_one_message_per_sensor_routes_to_measurement(sensor_type, measurement, field):
    body = {"robot_id": RID, "sensor_type": sensor_type, "value": 9.81, "unit": "x"}
    (sample,) = parse(f"tonypi/sensors/{RID}", body).samples
    assert sample.measurement is measurement
    assert sample.fields == {field: 9.81}


def test_servos_keyed_object_becomes_one_sample_per_servo():
    message = parse(f"tonypi/servos/{RID}", LEGACY_MESSAGES[f"tonypi/servos/{RID}"])
    by_id = {s.tags["servo_id"]: s.fields for s in message.samples}
    assert by_id["servo_2"] == {"position": -30.0, "temperature": 71.0, "voltage": 7.3,
                                "torque_enabled": False}


def test_battery_and_location_take_robot_id_from_payload():
    battery = parse("tonypi/battery", LEGACY_MESSAGES["tonypi/battery"])
    assert battery.kind is Kind.BATTERY
    assert battery.samples[0].fields == {"percentage": 76.0, "voltage": 11.7, "charging": False}
    location = parse("tonypi/location", LEGACY_MESSAGES["tonypi/location"])
    assert location.samples[0].fields == {"x": 1.5, "y": -0.25, "z": 0.0}


def test_pi_status_uses_older_names():
    message = parse(f"tonypi/pi_status/{RID}", LEGACY_MESSAGES[f"tonypi/pi_status/{RID}"])
    assert message.samples[0].fields["disk_percent"] == 50.0


def test_job_progress_shape():
    job = parse(f"tonypi/job/{RID}", JOB_PROGRESS).job
    assert (job.status, job.started, job.items_done, job.items_total) == ("active", False, 3, 10)
    assert job.job_key == "2026-01-21T07:20:00"
    assert job.percent_complete == 30.0
    assert job.start_time == NOW - timedelta(seconds=240)  # receive time minus elapsed
    done = parse(f"tonypi/job/{RID}", dict(JOB_PROGRESS, status="completed")).job
    assert done.status == "completed"


def test_job_event_shape():
    job = parse(f"tonypi/job/{RID}", JOB_EVENT_STARTED).job
    assert (job.status, job.started, job.task_name) == ("active", True, "sort_items")
    failed = parse(f"tonypi/job/{RID}", dict(JOB_EVENT_STARTED, status="failed",
                                            reason="dropped item")).job
    assert (failed.status, failed.reason) == ("failed", "dropped item")


def test_logs_scan_vision_responses():
    log = parse(f"tonypi/logs/{RID}", LEGACY_MESSAGES[f"tonypi/logs/{RID}"]).log
    assert (log.level, log.message, log.source) == ("WARNING", "servo 2 warm", "servo_monitor")
    scan = parse(f"tonypi/scan/{RID}", LEGACY_MESSAGES[f"tonypi/scan/{RID}"])
    assert scan.log.category == "scan" and "ITEM-0042" in scan.log.message
    vision = parse(f"tonypi/vision/{RID}", LEGACY_MESSAGES[f"tonypi/vision/{RID}"])
    assert {s.tags["sensor_type"] for s in vision.samples} == {"vision_confidence",
                                                              "vision_center_x"}
    response = parse("tonypi/emergency_stop/response",
                     LEGACY_MESSAGES["tonypi/emergency_stop/response"]).command_response
    assert (response.command_id, response.success, response.emergency) == ("e-1", True, True)
