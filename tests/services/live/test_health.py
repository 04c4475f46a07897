"""Health rules: thresholds, emergency, staleness and offline, worst first."""

from __future__ import annotations

import pytest

from services.live.health import DEFAULT_THRESHOLDS, Readings, Threshold, evaluate
from services.live.model import Health
from services.records.repositories import Threshold as RecordsThreshold


def test_defaults_match_the_records_seed():
    assert DEFAULT_THRESHOLDS["cpu"] == Threshold(70, 90)
    assert DEFAULT_THRESHOLDS["memory"] == Threshold(75, 90)
    assert DEFAULT_THRESHOLDS["temperature"] == Threshold(70, 80)
    assert DEFAULT_THRESHOLDS["battery"] == Threshold(20, 10, low_is_bad=True)
    assert DEFAULT_THRESHOLDS["servo_temp"] == Threshold(60, 75)


def test_nothing_wrong_is_ok_without_reasons():
    readings = Readings(cpu_percent=20, memory_percent=30, cpu_temperature=50,
                        battery_percent=80, servo_temperatures={"servo_1": 40.0}, silent_s=0.5)
    assert evaluate(readings) == (Health.OK, ())


@pytest.mark.parametrize(("readings", "health", "reason"), [
    (Readings(cpu_percent=70.0), Health.WARN, "cpu 70.0 % >= 70"),
    (Readings(cpu_percent=93.25), Health.ERROR, "cpu 93.2 % >= 90"),
    (Readings(memory_percent=80), Health.WARN, "memory 80.0 % >= 75"),
    (Readings(cpu_temperature=81), Health.ERROR, "cpu temperature 81.0 °C >= 80"),
    (Readings(battery_percent=20), Health.WARN, "battery 20.0 % <= 20"),
    (Readings(battery_percent=9.5), Health.ERROR, "battery 9.5 % <= 10"),
    (Readings(servo_temperatures={"servo_3": 76.2}), Health.ERROR, "servo_3 76.2 °C >= 75"),
    (Readings(servo_temperatures={"servo_3": 61}), Health.WARN, "servo_3 61.0 °C >= 60"),
])
def test_thresholds_give_warn_and_error_with_reasons(readings, health, reason):
    assert evaluate(readings) == (health, (reason,))


def test_just_below_the_limits_is_ok():
    readings = Readings(cpu_percent=69.9, battery_percent=20.1,
                        servo_temperatures={"servo_1": 59.9})
    assert evaluate(readings) == (Health.OK, ())


def test_worst_wins_and_reasons_are_listed_worst_first():
    readings = Readings(cpu_percent=75, battery_percent=5,
                        servo_temperatures={"servo_2": 65.0, "servo_7": 80.0})
    health, reasons = evaluate(readings)
    assert health is Health.ERROR
    assert reasons == ("battery 5.0 % <= 10", "servo_7 80.0 °C >= 75", "cpu 75.0 % >= 70",
                       "servo_2 65.0 °C >= 60")


def test_emergency_stop_and_robot_error_are_errors():
    health, reasons = evaluate(Readings(status="error", emergency_stopped=True,
                                        emergency_reason="operator pressed stop"))
    assert (health, reasons) == (Health.ERROR, ("emergency stop: operator pressed stop",))
    assert evaluate(Readings(status="error")) == (Health.ERROR, ("robot reports an error",))


def test_stale_signals_outrank_errors_and_are_summarised_when_many():
    health, reasons = evaluate(Readings(cpu_percent=95,
                                        stale_signals=[("imu/accel_x", 4.25)]))
    assert health is Health.STALE
    assert reasons == ("imu/accel_x stale for 4.2 s", "cpu 95.0 % >= 90")
    many = [(f"servos/servo_{i}/position", 10.0 + i) for i in range(16)]
    assert evaluate(Readings(stale_signals=many)) == (
        Health.STALE, ("16 signals stale, up to 25.0 s",))


def test_offline_by_last_will_or_by_silence():
    assert evaluate(Readings(status="offline"))[0] is Health.OFFLINE
    assert evaluate(Readings(offline_marked=True, silent_s=0.1))[0] is Health.OFFLINE
    assert evaluate(Readings(silent_s=29.9), offline_after_s=30)[0] is Health.OK
    health, reasons = evaluate(Readings(silent_s=31, stale_signals=[("battery/voltage", 31)]),
                               offline_after_s=30)
    assert health is Health.OFFLINE
    assert reasons == ("silent for 31 s", "battery/voltage stale for 31.0 s")


def test_records_thresholds_are_accepted_and_disabled_ones_ignored():
    thresholds = {
        "cpu": RecordsThreshold(warning=50, critical=60, enabled=True, low_is_bad=False),
        "battery": RecordsThreshold(warning=20, critical=10, enabled=False, low_is_bad=True),
    }
    assert evaluate(Readings(cpu_percent=55, battery_percent=1), thresholds) == (
        Health.WARN, ("cpu 55.0 % >= 50",))
