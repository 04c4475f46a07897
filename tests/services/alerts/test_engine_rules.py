"""Durations, hysteresis, escalation, low-is-bad battery and flapping input."""

from __future__ import annotations

import math

import pytest

from services.alerts import AlertEngine, RuleSettings
from services.records.repositories import Threshold
from tests.services.alerts.support import T0, ThresholdTable, at, feed, kinds


@pytest.fixture
def engine() -> AlertEngine:
    return AlertEngine(ThresholdTable(), RuleSettings(raise_after_s=10, clear_after_s=10))


def test_a_spike_shorter_than_the_hold_raises_nothing(engine):
    # 5 s at 80 °C (beyond critical), then normal again: nothing.
    assert feed(engine, [50] * 5 + [80] * 5 + [50] * 60) == []


def test_a_condition_raises_once_it_has_held_for_raise_after_s(engine):
    changes = feed(engine, [50] * 20 + [65] * 30)  # 65 from t=20 s on
    (raised,) = changes
    assert (raised.kind, raised.severity, raised.value, raised.threshold) == (
        "raised", "warning", 65.0, 60.0)
    assert raised.at == at(30)  # held 20 s .. 30 s of sample time
    assert (raised.robot_id, raised.alert_type, raised.source) == ("r1", "servo", "servo_3")
    assert raised.title == "Servo servo_3 temperature warning"
    assert raised.message == "servo_3 at 65.0 °C (warning >= 60 °C) for 10 s"
    assert raised.details["metric_type"] == "servo_temp"
    assert raised.details["hold_s"] == 10 and raised.details["clear_at"] == 57
    assert raised.at.tzinfo is not None and raised.at.utcoffset().total_seconds() == 0


def test_time_is_sample_time_not_call_count(engine):
    # Two samples 10 s apart are enough; a hundred samples within 9 s are not.
    assert feed(engine, [65] * 100, step_s=0.09) == []
    changes = feed(engine, [65, 65], start_s=100, step_s=10, robot_id="r2")
    assert kinds(changes) == [("raised", "warning")] and changes[0].at == at(110)


def test_exactly_at_the_threshold_counts_as_beyond(engine):
    assert kinds(feed(engine, [60] * 11)) == [("raised", "warning")]
    assert feed(engine, [59.99] * 100, robot_id="r2") == []


def test_straight_to_critical_raises_critical_once(engine):
    (raised,) = feed(engine, [76.2] * 30)
    assert (raised.kind, raised.severity, raised.threshold) == ("raised", "critical", 75.0)
    assert raised.title == "Servo servo_3 temperature critical"
    assert raised.message == "servo_3 at 76.2 °C (critical >= 75 °C) for 10 s"


def test_warning_then_critical_is_one_alert_escalated(engine):
    changes = feed(engine, [65] * 15 + [78] * 60 + [65] * 60)
    assert kinds(changes) == [("raised", "warning"), ("escalated", "critical")]
    raised, escalated = changes
    assert escalated.at == at(25)  # 78 from t=15 s, held 10 s
    assert (escalated.value, escalated.threshold) == (78.0, 75.0)
    assert escalated.title == "Servo servo_3 temperature critical"
    # Back between warning and critical: neither de-escalated nor cleared.
    later = feed(engine, [56] * 11, start_s=135)
    assert kinds(later) == [("resolved", "critical")]
    assert later[0].threshold == 75.0 and later[0].value == 56.0


def test_a_short_critical_spike_does_not_escalate(engine):
    changes = feed(engine, [65] * 15 + [80] * 9 + [65] * 60)
    assert kinds(changes) == [("raised", "warning")]


def test_clears_only_past_the_margin_for_clear_after_s(engine):
    feed(engine, [65] * 11)
    # 58..59.9 is inside the hysteresis band (57..60): an hour there clears nothing.
    assert feed(engine, [58 + (i % 20) / 10 for i in range(3600)], start_s=11) == []
    # 57 for 9 s, one sample in the band (resets the clear timer), then 57 for 10 s.
    start = 3611
    assert feed(engine, [57] * 9 + [58] + [57] * 10, start_s=start) == []
    (resolved,) = feed(engine, [57], start_s=start + 20)
    assert (resolved.kind, resolved.severity, resolved.at) == ("resolved", "warning",
                                                              at(start + 20))
    assert resolved.title == "Servo servo_3 temperature back to normal"
    assert resolved.message == ("servo_3 at 57.0 °C (<= 57 °C: warning 60 °C with a 3 °C "
                                "margin) for 10 s")
    # Resolved means a new condition must hold again in full before the next alert.
    assert feed(engine, [65] * 10, start_s=start + 21) == []
    assert kinds(feed(engine, [65], start_s=start + 31)) == [("raised", "warning")]


def test_hysteresis_margins_are_configurable_per_metric():
    settings = RuleSettings(hysteresis={"servo_temp": 10})
    assert settings.margin("servo_temp") == 10 and settings.margin("cpu") == 5
    assert settings.margin("disk") == 2 and settings.margin("battery") == 3
    engine = AlertEngine(ThresholdTable(), settings)
    feed(engine, [65] * 11)
    assert feed(engine, [52] * 60, start_s=11) == []  # 52 > 60 - 10
    assert kinds(feed(engine, [50] * 11, start_s=71)) == [("resolved", "warning")]


def test_settings_refuse_nonsense():
    with pytest.raises(ValueError):
        RuleSettings(raise_after_s=-1)
    with pytest.raises(ValueError):
        RuleSettings(hysteresis={"cpu": math.nan})
    with pytest.raises(ValueError):
        RuleSettings(max_keys=0)


def test_battery_low_is_bad(engine):
    run = dict(metric_type="battery", source="battery")
    assert feed(engine, [25] * 60 + [21] * 60, **run) == []
    changes = feed(engine, [20] * 11 + [9.5] * 11, start_s=120, **run)
    assert kinds(changes) == [("raised", "warning"), ("escalated", "critical")]
    raised, escalated = changes
    assert (raised.alert_type, raised.source, raised.threshold) == ("battery", "battery", 20)
    assert raised.title == "Battery level warning"
    assert raised.message == "Battery level at 20.0 % (warning <= 20 %) for 10 s"
    assert escalated.message == "Battery level at 9.5 % (critical <= 10 %) for 10 s"
    # Recharging to 22 % is inside the band (20..23): still open; 23 % for 10 s clears.
    assert feed(engine, [22] * 100, start_s=142, **run) == []
    (resolved,) = feed(engine, [23] * 11, start_s=242, **run)
    assert (resolved.kind, resolved.severity) == ("resolved", "critical")
    assert "(>= 23 %" in resolved.message


def test_flapping_one_degree_around_the_threshold_for_an_hour(engine):
    # +-1 around the warning level every second: never 10 s in a row beyond it.
    assert feed(engine, [59 if i % 2 else 61 for i in range(3600)]) == []
    # Around the critical level with a warning already open: one raise, no escalation,
    # never cleared (74 is far from the clear level).
    changes = feed(engine, [74 if i % 2 else 76 for i in range(3600)], robot_id="r2")
    assert kinds(changes) == [("raised", "warning")]


def test_flapping_with_long_excursions_raises_at_most_once(engine):
    # 30 s at 61, 1 s at 59, for an hour: the first run raises, nothing after it.
    values = [59 if i % 31 == 30 else 61 for i in range(3600)]
    assert kinds(feed(engine, values)) == [("raised", "warning")]


def test_per_robot_overrides_win_over_global_rows():
    table = ThresholdTable({"hot_bot": {"servo_temp": Threshold(50, 70, True, False,
                                                                "hot_bot")}})
    engine = AlertEngine(table)
    assert feed(engine, [55] * 60, robot_id="cool_bot") == []
    (raised,) = feed(engine, [55] * 60, robot_id="hot_bot")
    assert (raised.threshold, raised.message) == (50, "servo_3 at 55.0 °C (warning >= 50 °C) "
                                                      "for 10 s")
    assert raised.details["threshold_scope"] == "robot"


def test_thresholds_are_cached_per_robot_for_a_ttl_of_sample_time():
    table = ThresholdTable()
    engine = AlertEngine(table, RuleSettings(thresholds_ttl_s=30))
    feed(engine, [40] * 29)  # t = 0 .. 28 s
    feed(engine, [40] * 29, robot_id="r2")
    assert table.calls == ["r1", "r2"]
    # The operator lowers r1's servo limit: used after the TTL, or at once on invalidate.
    table.overrides["r1"] = {"servo_temp": Threshold(35, 70, True, False, "r1")}
    assert feed(engine, [40], start_s=29) == []
    assert table.calls == ["r1", "r2"]
    feed(engine, [40] * 20, start_s=30)
    assert table.calls == ["r1", "r2", "r1"]
    table.overrides["r2"] = {"servo_temp": Threshold(35, 70, True, False, "r2")}
    engine.invalidate("r2")
    assert kinds(feed(engine, [40] * 11, start_s=29, robot_id="r2")) == [("raised", "warning")]
    assert table.calls == ["r1", "r2", "r1", "r2"]


def test_a_disabled_threshold_raises_nothing_and_closes_an_open_alert():
    table = ThresholdTable()
    engine = AlertEngine(table)
    feed(engine, [80] * 11)
    table.global_rows["servo_temp"] = Threshold(60, 75, False, False)
    engine.invalidate()
    (closed,) = feed(engine, [80], start_s=11)
    assert (closed.kind, closed.severity) == ("resolved", "critical")
    assert closed.details["reason"] == "threshold disabled"
    assert "disabled" in closed.message
    assert feed(engine, [99] * 3600, start_s=12) == []
    # A metric with no threshold row at all behaves the same.
    del table.global_rows["servo_temp"]
    engine.invalidate("r1")
    assert feed(engine, [99] * 60, start_s=4000) == []


def test_out_of_order_and_duplicate_samples_are_ignored(engine):
    changes = engine.observe("r1", "servo_temp", "servo_3", 65, at(0))
    for second in range(1, 9):
        changes += engine.observe("r1", "servo_temp", "servo_3", 65, at(second))
    # A late cool sample from t=3 s must not break the run that is already at t=8 s.
    changes += engine.observe("r1", "servo_temp", "servo_3", 40, at(3))
    changes += engine.observe("r1", "servo_temp", "servo_3", 40, at(8))  # same time again
    changes += engine.observe("r1", "servo_temp", "servo_3", 65, at(10))
    assert kinds(changes) == [("raised", "warning")]


def test_bad_input_is_refused_or_ignored(engine):
    with pytest.raises(ValueError, match="naive"):
        engine.observe("r1", "servo_temp", "servo_3", 65, T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="unknown metric"):
        engine.observe("r1", "humidity", "h", 65, T0)
    assert feed(engine, [math.nan, math.inf] * 20) == []


def test_memory_is_bounded_and_open_alerts_are_never_evicted():
    engine = AlertEngine(ThresholdTable(), RuleSettings(max_keys=50))
    feed(engine, [80] * 11, source="servo_1")
    for second in range(11, 211):  # 200 more servos report once each
        engine.observe("r1", "servo_temp", f"servo_{second}", 20, at(second))
    assert engine.key_count <= 50
    assert engine.open_alerts() == [("r1", "servo", "servo_1", "critical")]
    # The still-hot servo is not raised a second time.
    assert feed(engine, [80] * 60, start_s=300, source="servo_1") == []
