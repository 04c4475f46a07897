"""Connectivity, emergency stop, resume after a restart, and wire samples to metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.alerts import AlertEngine, RuleSettings
from services.records.db import Database
from services.records.migrate import upgrade
from services.records.repositories import RobotRepository, ThresholdRepository
from services.wire import parse_message
from services.wire.encode import encode
from services.wire.model import Measurement, Sample
from tests.services.alerts.support import T0, ThresholdTable, at, feed, kinds


@pytest.fixture
def engine() -> AlertEngine:
    return AlertEngine(ThresholdTable())


def test_stale_warns_offline_escalates_ok_resolves_at_once(engine):
    (stale,) = engine.observe_connectivity("r1", "stale", at(0))
    assert (stale.kind, stale.alert_type, stale.source, stale.severity) == (
        "raised", "network", "connectivity", "warning")
    assert stale.title == "Robot connection stale" and "r1" in stale.message
    assert (stale.value, stale.threshold, stale.at) == (None, None, at(0))
    assert engine.observe_connectivity("r1", "stale", at(5)) == []
    (offline,) = engine.observe_connectivity("r1", "offline", at(60))
    assert (offline.kind, offline.severity, offline.title) == ("escalated", "critical",
                                                               "Robot connection lost")
    assert offline.message == "r1 lost its connection: no data received"
    assert engine.observe_connectivity("r1", "stale", at(61)) == []  # never de-escalates
    assert engine.observe_connectivity("r1", "ok", at(30)) == []  # older than offline
    (back,) = engine.observe_connectivity("r1", "ok", at(90))
    assert (back.kind, back.severity, back.title) == ("resolved", "critical",
                                                      "Robot connection restored")
    assert engine.observe_connectivity("r1", "ok", at(91)) == []
    assert kinds(engine.observe_connectivity("r2", "offline", at(0))) == [
        ("raised", "critical")]
    with pytest.raises(ValueError):
        engine.observe_connectivity("r1", "gone", at(100))


def test_emergency_stop_raises_critical_and_release_resolves(engine):
    assert engine.observe_emergency("r1", False, None, at(0)) == []
    (stop,) = engine.observe_emergency("r1", True, "operator pressed stop", at(1))
    assert (stop.kind, stop.alert_type, stop.source, stop.severity) == (
        "raised", "system", "emergency_stop", "critical")
    assert stop.title == "Emergency stop engaged"
    assert stop.message == "r1 is emergency-stopped: operator pressed stop"
    assert engine.observe_emergency("r1", True, "operator pressed stop", at(2)) == []
    (released,) = engine.observe_emergency("r1", False, None, at(30))
    assert (released.kind, released.severity) == ("resolved", "critical")
    assert engine.observe_emergency("r1", False, None, at(31)) == []
    (again,) = engine.observe_emergency("r1", True, None, at(40))
    assert again.message == "r1 is emergency-stopped: no reason given"


def test_resume_prevents_duplicates_and_still_resolves():
    engine = AlertEngine(ThresholdTable())
    engine.resume([("r1", "servo", "servo_3", "warning"),
                   ("r1", "network", "connectivity", "warning"),
                   ("r1", "system", "emergency_stop", "critical"),
                   ("r1", "battery", "battery", "warning")])
    # The servo is still warm: no second alert, but critical heat escalates the open one.
    assert feed(engine, [65] * 600) == []
    assert kinds(feed(engine, [80] * 11, start_s=600)) == [("escalated", "critical")]
    assert kinds(feed(engine, [50] * 11, start_s=611)) == [("resolved", "critical")]
    assert engine.observe_connectivity("r1", "stale", at(700)) == []
    assert kinds(engine.observe_connectivity("r1", "offline", at(701))) == [
        ("escalated", "critical")]
    assert kinds(engine.observe_emergency("r1", False, None, at(702))) == [
        ("resolved", "critical")]
    assert engine.open_alerts() == [("r1", "battery", "battery", "warning"),
                                    ("r1", "network", "connectivity", "critical")]
    assert kinds(engine.observe_connectivity("r1", "ok", at(703))) == [("resolved", "critical")]
    assert kinds(feed(engine, [50] * 11, metric_type="battery", source="battery")) == [
        ("resolved", "warning")]
    assert engine.open_alerts() == []


def test_a_clean_goodbye_raises_nothing_and_ends_an_open_network_alert(engine):
    assert engine.observe_connectivity("r1", "stopped", at(0)) == []
    assert engine.open_alerts() == []
    (lost,) = engine.observe_connectivity("r2", "offline", at(0), cause="its last will")
    assert (lost.kind, lost.severity) == ("raised", "critical")
    assert lost.message == "r2 lost its connection: its last will"
    assert lost.details == {"connectivity": "offline", "cause": "its last will"}
    (ended,) = engine.observe_connectivity("r2", "stopped", at(5))
    assert (ended.kind, ended.title) == ("resolved", "Robot stopped cleanly")
    assert engine.open_alerts() == []


def test_hold_keeps_a_manual_resolve_until_the_condition_clears(engine):
    assert kinds(feed(engine, [65] * 11)) == [("raised", "warning")]
    engine.hold("r1", "servo", "servo_3")  # an operator resolved it by hand, still warm
    assert engine.open_alerts() == []
    assert engine.held_alerts() == [("r1", "servo", "servo_3", "warning")]
    assert feed(engine, [65] * 120, start_s=11) == []  # no re-raise while it holds
    # Back in range (<= 57 after hysteresis) for clear_after_s re-arms the rule quietly...
    assert feed(engine, [50] * 11, start_s=131) == []
    assert engine.held_alerts() == []
    # ...and a new breach then raises a new alert as usual.
    assert kinds(feed(engine, [65] * 11, start_s=142)) == [("raised", "warning")]


def test_a_held_warning_that_turns_critical_raises_a_new_alert(engine):
    assert kinds(feed(engine, [65] * 11)) == [("raised", "warning")]
    engine.hold("r1", "servo", "servo_3")
    assert feed(engine, [80] * 10, start_s=11) == []  # critical must hold raise_after_s
    assert kinds(feed(engine, [80], start_s=21)) == [("raised", "critical")]
    assert engine.held_alerts() == []


def test_hold_on_connectivity_and_emergency_stays_until_the_robot_is_back(engine):
    engine.observe_connectivity("r1", "stale", at(0))
    engine.hold("r1", "network", "connectivity")
    assert engine.observe_connectivity("r1", "stale", at(1)) == []
    assert kinds(engine.observe_connectivity("r1", "offline", at(2))) == [
        ("raised", "critical")]  # worse than the stale warning that was resolved
    engine.hold("r1", "network", "connectivity")
    assert engine.observe_connectivity("r1", "offline", at(3)) == []
    assert engine.observe_connectivity("r1", "ok", at(4)) == []  # re-armed, nothing open
    assert kinds(engine.observe_connectivity("r1", "offline", at(5))) == [
        ("raised", "critical")]
    engine.observe_emergency("r1", True, "pressed", at(0))
    engine.hold("r1", "system", "emergency_stop")
    assert engine.observe_emergency("r1", True, "pressed", at(1)) == []
    assert engine.observe_emergency("r1", False, None, at(2)) == []
    assert kinds(engine.observe_emergency("r1", True, "again", at(3))) == [
        ("raised", "critical")]


def test_held_states_survive_the_key_cap():
    engine = AlertEngine(ThresholdTable(), RuleSettings(max_keys=2))
    feed(engine, [65] * 11)
    engine.hold("r1", "servo", "servo_3")
    for n in range(5):
        engine.observe_connectivity(f"other_{n}", "ok", at(n))
    assert engine.held_alerts() == [("r1", "servo", "servo_3", "warning")]


def test_forget_lets_a_persisting_condition_raise_again(engine):
    assert kinds(feed(engine, [65] * 11)) == [("raised", "warning")]
    engine.forget("r1", "servo", "servo_3")  # an operator resolved it by hand
    assert feed(engine, [65] * 10, start_s=11) == []
    assert kinds(feed(engine, [65], start_s=21)) == [("raised", "warning")]


def test_samples_map_to_metrics_per_the_spec_table():
    engine = AlertEngine(ThresholdTable(), RuleSettings(raise_after_s=0))
    performance = Sample(Measurement.PERFORMANCE, "r1", T0, {
        "cpu_percent": 95.0, "memory_percent": 80.0, "disk_percent": 96.0,
        "cpu_temperature": 72.5, "uptime_s": 1e6})
    keys = {(c.alert_type, c.source, c.severity, c.details["metric_type"])
            for c in engine.observe_sample(performance)}
    assert keys == {("performance", "cpu", "critical", "cpu"),
                    ("performance", "memory", "warning", "memory"),
                    ("performance", "disk", "critical", "disk"),
                    ("temperature", "cpu_temperature", "warning", "temperature")}
    battery = Sample(Measurement.BATTERY, "r1", T0, {"percentage": 8.0, "charging": False})
    (low,) = engine.observe_sample(battery)
    assert (low.alert_type, low.source, low.severity) == ("battery", "battery", "critical")
    # Servo samples per servo_id; a legacy numeric id gets the servo_ prefix; bools and
    # measurements without rules are skipped.
    servos = [Sample(Measurement.SERVOS, "r1", T0, {"temperature": 61.0, "load": 99.0},
                     {"servo_id": "servo_3"}),
              Sample(Measurement.SERVOS, "r1", T0, {"temperature": 76.0}, {"servo_id": "5"}),
              Sample(Measurement.SERVOS, "r1", T0, {"temperature": 90.0}),
              Sample(Measurement.SENSORS, "r1", T0, {"value": 1e9}, {"sensor_type": "x"})]
    changes = [c for sample in servos for c in engine.observe_sample(sample)]
    assert [(c.alert_type, c.source, c.severity) for c in changes] == [
        ("servo", "servo_3", "warning"), ("servo", "servo_5", "critical")]
    assert changes[1].title == "Servo servo_5 temperature critical"


def test_wire_messages_from_the_parser_raise_once_held():
    engine = AlertEngine(ThresholdTable())
    changes = []
    for second in range(12):
        topic, payload = encode("servos", "tonypi_01", second, {"servos": [
            {"id": 3, "temperature": 76.2}, {"id": 4, "temperature": 40.0}]},
            T0 + timedelta(seconds=second))
        for sample in parse_message(topic, payload, T0).samples:
            changes += engine.observe_sample(sample)
    (raised,) = changes
    assert (raised.robot_id, raised.source, raised.at) == ("tonypi_01", "servo_3", at(10))
    assert raised.message == "servo_3 at 76.2 °C (critical >= 75 °C) for 10 s"


def test_thresholds_from_the_records_database(sqlite_url):
    """The engine fed by ThresholdRepository.effective on a migrated SQLite database."""
    upgrade(sqlite_url)
    database = Database(sqlite_url)
    try:
        with database.session() as session:
            RobotRepository(session).touch("hot_bot", T0)
            ThresholdRepository(session).set("servo_temp", 50, 70, robot_id="hot_bot")
            ThresholdRepository(session).set("cpu", 60, 80, robot_id="hot_bot", enabled=False)

        def thresholds(robot_id: str):
            with database.session() as session:
                return ThresholdRepository(session).effective(robot_id)

        engine = AlertEngine(thresholds)
        assert feed(engine, [55] * 30, robot_id="cool_bot") == []
        (hot,) = feed(engine, [55] * 30, robot_id="hot_bot")
        assert (hot.threshold, hot.details["threshold_scope"]) == (50, "robot")
        assert feed(engine, [99] * 30, robot_id="hot_bot", metric_type="cpu",
                    source="cpu") == []
        (cpu,) = feed(engine, [99] * 30, robot_id="cool_bot", metric_type="cpu",
                      source="cpu")
        assert (cpu.severity, cpu.threshold) == ("critical", 90)
        (disk,) = feed(engine, [85] * 30, robot_id="cool_bot", metric_type="disk",
                       source="disk")
        assert (disk.severity, disk.threshold) == ("warning", 80)  # seeded by 0005
    finally:
        database.dispose()
