"""PipelineMonitor: which ingest instances are up, how far behind, how many rejects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.live.pipeline import DOWN_AFTER_S, GRACE_S, PipelineMonitor
from services.mqtt_session import ReceivedMessage
from services.wire.ingest_health import IngestHealth, encode_health, health_topic

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def report(instance: str = "ingest-a", at: datetime = T0, state: str = "online",
           lag: float | None = 0.5, **counters: int) -> IngestHealth:
    return IngestHealth(instance=instance, state=state, ts=at, counters=counters,
                        queue_depth=3, store_lag_s=lag, last_store_at=at)


def received(health: IngestHealth, at: datetime, retain: bool = False) -> ReceivedMessage:
    return ReceivedMessage(topic=health_topic(health.instance), payload=encode_health(health),
                           qos=0, retain=retain, dup=False, mid=0, received_at=at,
                           generation=1)


def monitor_at(start: datetime = T0) -> PipelineMonitor:
    monitor = PipelineMonitor(clock=lambda: start.timestamp())
    monitor.restart_grace(start.timestamp())
    return monitor


def test_waiting_within_the_grace_period_then_no_ingest():
    monitor = monitor_at()
    assert monitor.status(T0.timestamp() + GRACE_S - 1).waiting
    late = monitor.status(T0.timestamp() + GRACE_S + 1)
    assert not late.waiting and late.no_ingest and late.summary() == "Ingest: DOWN"


def test_an_instance_is_up_while_it_reports_and_down_when_silent():
    monitor = monitor_at()
    monitor._on_message_received(received(report(received=10, stored=10), T0))
    status = monitor.status(T0.timestamp() + DOWN_AFTER_S - 1)
    assert status.alive and not status.no_ingest and status.worst_lag_s == 0.5
    (item,) = status.instances
    assert (item.instance, item.queue_depth, item.counters["stored"]) == ("ingest-a", 3, 10)
    assert status.summary() == "Ingest: up, lag 0.5 s"
    silent = monitor.status(T0.timestamp() + DOWN_AFTER_S + 1)
    assert silent.no_ingest and silent.instances[0].why_down == "silent for 16 s"


def test_offline_is_down_at_once_and_another_instance_keeps_the_pipeline_up():
    monitor = monitor_at()
    monitor._on_message_received(received(report("ingest-a"), T0))
    monitor._on_message_received(received(report("ingest-b"), T0))
    monitor._on_message_received(received(report("ingest-a", state="offline"), T0))
    status = monitor.status(T0.timestamp() + 1)
    assert status.alive and status.up_count == 1
    assert status.summary().startswith("Ingest: 1/2 up")
    assert [i.why_down for i in status.instances] == ["offline", ""]


def test_a_retained_report_is_dated_by_its_own_time_not_its_arrival():
    monitor = monitor_at()
    old = report(at=T0 - timedelta(minutes=10))  # an instance gone without a will
    monitor._on_message_received(received(old, T0, retain=True))
    assert monitor.status(T0.timestamp()).no_ingest
    fresh = report(at=T0 - timedelta(seconds=2))
    monitor._on_message_received(received(fresh, T0, retain=True))
    assert monitor.status(T0.timestamp()).alive


def test_reject_and_dead_letter_rates_come_from_counter_deltas_and_survive_a_restart():
    monitor = monitor_at()
    monitor._on_message_received(received(report(rejected=4, dead_lettered=1), T0))
    later = T0 + timedelta(seconds=5)
    monitor._on_message_received(received(report(at=later, rejected=9, dead_lettered=2), later))
    status = monitor.status(later.timestamp())
    assert status.rejected_per_min == 60.0 and status.dead_lettered_per_min == 12.0
    assert "72 rejected/min" in status.summary()
    restarted = later + timedelta(seconds=5)  # counters start from zero again
    monitor._on_message_received(received(report(at=restarted, rejected=0), restarted))
    assert monitor.status(restarted.timestamp()).rejected_per_min == 0.0


def test_bad_reports_and_announcements_are_ignored():
    monitor = monitor_at()
    monitor._on_message_received(ReceivedMessage("tonypi/ingest/x", b"{not json", 0, False,
                                                 False, 0, T0, 1))
    announce = IngestHealth(instance="ingest-a", state="online", ts=T0, announce=True)
    monitor._on_message_received(received(announce, T0))
    assert monitor.status(T0.timestamp()).instances == ()
