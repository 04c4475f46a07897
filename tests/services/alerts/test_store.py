"""AlertStore on a migrated SQLite file and a fresh PostgreSQL database (every test both)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.alerts.engine import AlertChange
from services.alerts.store import AlertStore, UnknownAlert
from services.records.db import Database
from services.records.errors import InvalidRecord
from services.records.migrate import upgrade
from services.records.models import Alert, AlertEvent
from services.records.repositories import RobotRepository

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ROBOTS = ("r1", "r2")


@pytest.fixture(params=["sqlite", "postgresql"])
def records_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def db(records_url: str) -> Iterator[Database]:
    upgrade(records_url)
    database = Database(records_url)
    with database.session() as session:
        for robot_id in ROBOTS:
            RobotRepository(session).touch(robot_id, T0)
    yield database
    database.dispose()


def change(kind: str, severity: str = "warning", *, robot_id: str = "r1", at_s: float = 0.0,
           value: float | None = 65.0, threshold: float | None = 60.0,
           alert_type: str = "servo", source: str = "servo_3") -> AlertChange:
    return AlertChange(kind, robot_id, alert_type, source, severity, value, threshold,
                       f"Servo {source} temperature {severity}", f"{value} C",
                       T0 + timedelta(seconds=at_s), {"metric_type": "servo_temp"})


def apply(db: Database, *changes: AlertChange) -> list[tuple[int | None, str]]:
    with db.session() as session:
        store = AlertStore(session)
        results = [store.apply(c) for c in changes]
        return [(alert.id if alert else None, event) for alert, event in results]


def count_alerts(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Alert))


def test_raise_once_then_unchanged(db):
    [(alert_id, event)] = apply(db, change("raised", at_s=10))
    assert event == "raised"
    assert apply(db, change("raised", at_s=11)) == [(alert_id, "unchanged")]
    with db.session() as session:
        alert = AlertStore(session).get(alert_id)
        assert (alert.robot_id, alert.alert_type, alert.source, alert.severity) == (
            "r1", "servo", "servo_3", "warning")
        assert (alert.value, alert.threshold, alert.acknowledged, alert.resolved) == (
            65.0, 60.0, False, False)
        assert alert.created_at == T0 + timedelta(seconds=10)
        [raised] = AlertStore(session).history(alert_id)
    assert (raised.event, raised.actor, raised.at) == ("raised", None, alert.created_at)
    assert raised.details["severity"] == "warning" and raised.details["value"] == 65.0


def test_escalation_updates_the_same_alert(db):
    [(alert_id, _)] = apply(db, change("raised"))
    escalated = change("escalated", "critical", at_s=20, value=80.0, threshold=75.0)
    assert apply(db, escalated) == [(alert_id, "escalated")]
    assert apply(db, escalated) == [(alert_id, "unchanged")]
    # A "raised" critical from another instance's engine also lands on the same row.
    assert apply(db, change("raised", "critical", at_s=21)) == [(alert_id, "unchanged")]
    with db.session() as session:
        alert = AlertStore(session).get(alert_id)
        assert (alert.severity, alert.value, alert.threshold) == ("critical", 80.0, 75.0)
        assert alert.title == "Servo servo_3 temperature critical"
        events = [e.event for e in AlertStore(session).history(alert_id)]
    assert events == ["raised", "escalated"]
    assert count_alerts(db) == 1


def test_escalation_without_open_alert_opens_a_critical_one(db):
    [(alert_id, event)] = apply(db, change("escalated", "critical", value=80.0))
    assert event == "raised"
    with db.session() as session:
        assert AlertStore(session).get(alert_id).severity == "critical"


def test_auto_resolve_then_a_new_alert_may_open(db):
    [(first, _)] = apply(db, change("raised"))
    assert apply(db, change("resolved", at_s=30, value=55.0)) == [(first, "resolved")]
    assert apply(db, change("resolved", at_s=31)) == [(None, "unchanged")]
    [(second, event)] = apply(db, change("raised", at_s=40))
    assert event == "raised" and second != first
    with db.session() as session:
        store = AlertStore(session)
        old = store.get(first)
        assert old.resolved and old.resolved_at == T0 + timedelta(seconds=30)
        assert not old.acknowledged  # resolved and acknowledged are independent
        [_, resolved] = store.history(first)
        assert (resolved.event, resolved.actor) == ("resolved", None)
        assert resolved.details["auto"] is True and resolved.details["value"] == 55.0
        assert store.open_keys() == [("r1", "servo", "servo_3", "warning")]


def test_a_late_raise_from_a_lagging_instance_opens_nothing(db):
    """Instance B raised and resolved already; instance A, behind on the same stream,
    now raises and escalates with older sample times: still one alert."""
    [(first, _)] = apply(db, change("raised", at_s=15), change("resolved", at_s=50))[:1]
    late = apply(db, change("raised", at_s=15), change("escalated", "critical", at_s=31),
                 change("resolved", at_s=50))
    assert late == [(first, "unchanged"), (first, "unchanged"), (None, "unchanged")]
    assert count_alerts(db) == 1
    # A manual resolve (server clock) does not hide a genuinely new condition.
    [(second, _)] = apply(db, change("raised", at_s=60))
    with db.session() as session:
        AlertStore(session).resolve_manually(second, "alice", "checked",
                                             at=T0 + timedelta(hours=1))
    assert apply(db, change("raised", at_s=70))[0][1] == "raised"


def test_keys_are_independent(db):
    results = apply(db, change("raised"), change("raised", source="servo_4"),
                    change("raised", robot_id="r2"),
                    change("raised", alert_type="network", source="connectivity"))
    assert [event for _, event in results] == ["raised"] * 4
    assert len({alert_id for alert_id, _ in results}) == 4


def test_the_partial_unique_index_refuses_a_second_open_alert(db):
    apply(db, change("raised"))
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(Alert(robot_id="r1", alert_type="servo", source="servo_3",
                          severity="warning", title="dup", message="dup"))
        session.flush()
    with db.session() as session:  # resolved duplicates are history, not a conflict
        session.add(Alert(robot_id="r1", alert_type="servo", source="servo_3",
                          severity="warning", title="old", message="old", resolved=True))
    assert count_alerts(db) == 2


def test_acknowledge_once_and_report_the_winner(db):
    [(alert_id, _)] = apply(db, change("raised"))
    first_at = T0 + timedelta(minutes=5)
    with db.session() as session:
        won = AlertStore(session).acknowledge(alert_id, "alice", "  fan replaced ",
                                              at=first_at)
    assert won.acknowledged and (won.by, won.at) == ("alice", first_at)
    assert won.alert.acknowledged_by == "alice"
    with db.session() as session:
        lost = AlertStore(session).acknowledge(alert_id, "bob", "me too")
    assert not lost.acknowledged
    assert (lost.by, lost.at) == ("alice", first_at)
    with db.session() as session:
        alert = AlertStore(session).get(alert_id)
        assert (alert.acknowledged, alert.acknowledged_by) == (True, "alice")
        events = [(e.event, e.actor, e.details) for e in AlertStore(session).history(alert_id)]
    assert events[1:] == [("acknowledged", "alice", {"comment": "fan replaced"})]


def test_a_cleared_alert_can_still_be_acknowledged(db):
    [(alert_id, _)] = apply(db, change("raised"))
    apply(db, change("resolved", at_s=30))
    with db.session() as session:
        outcome = AlertStore(session).acknowledge(alert_id, "alice")
    assert outcome.acknowledged and outcome.alert.resolved
    with db.session() as session:
        assert AlertStore(session).history(alert_id)[-1].details is None  # no comment


def test_unknown_alert_and_bad_input(db):
    with db.session() as session:
        store = AlertStore(session)
        with pytest.raises(UnknownAlert):
            store.acknowledge(999, "alice")
        with pytest.raises(UnknownAlert):
            store.resolve_manually(999, "alice", "gone")
        with pytest.raises(InvalidRecord):
            store.acknowledge(1, "")
        with pytest.raises(InvalidRecord):
            store.apply(change("raised", "fatal"))
        with pytest.raises(InvalidRecord):
            store.apply(change("flapped"))
        with pytest.raises(InvalidRecord):
            store.list(state="burning")


def test_the_ingest_drops_an_invalid_change_and_applies_the_rest(db):
    from services.ingest.records_writer import apply_alert_changes

    too_long = AlertChange("raised", "r1", "servo", "servo_3", "warning", 1.0, 1.0,
                           "t" * 201, "m", T0, {})
    with db.session() as session:
        with pytest.raises(InvalidRecord):
            AlertStore(session).apply(too_long)
        applied = apply_alert_changes(session, [too_long, change("raised", source="servo_9")])
    assert [(alert.source, event) for alert, event in applied] == [("servo_9", "raised")]
    assert count_alerts(db) == 1


def test_manual_resolve_needs_a_reason_and_is_recorded(db):
    [(alert_id, _)] = apply(db, change("raised"))
    with db.session() as session, pytest.raises(InvalidRecord):
        AlertStore(session).resolve_manually(alert_id, "alice", "   ")
    with db.session() as session:
        outcome = AlertStore(session).resolve_manually(alert_id, "alice", "sensor unplugged")
    assert outcome.resolved and outcome.by == "alice" and outcome.alert.resolved
    with db.session() as session:
        again = AlertStore(session).resolve_manually(alert_id, "bob", "also")
        [_, resolved] = AlertStore(session).history(alert_id)
    assert (again.resolved, again.by, again.at) == (False, "alice", outcome.at)
    assert (resolved.actor, resolved.details) == (
        "alice", {"manual": True, "reason": "sensor unplugged"})
    # The rules' own resolve finds nothing open now.
    assert apply(db, change("resolved", at_s=60)) == [(None, "unchanged")]


def test_list_filters_newest_first(db):
    ids = [alert_id for alert_id, _ in apply(
        db,
        change("raised", at_s=0),
        change("raised", "critical", source="servo_4", at_s=10),
        change("raised", robot_id="r2", at_s=20),
        change("raised", alert_type="network", source="connectivity", at_s=30),
    )]
    apply(db, change("resolved", at_s=40))  # ids[0] cleared
    with db.session() as session:
        AlertStore(session).acknowledge(ids[2], "alice")
    with db.session() as session:
        store = AlertStore(session)

        def listed(**filters):
            return [alert.id for alert in store.list(**filters)]

        assert listed() == ids[::-1]
        assert listed(state="all", limit=2) == [ids[3], ids[2]]
        assert listed(severity="critical") == [ids[1]]
        assert listed(robot_id="r2") == [ids[2]]
        assert listed(state="active") == [ids[3], ids[2], ids[1]]
        assert listed(state="cleared") == [ids[0]]
        assert listed(state="unacknowledged") == [ids[3], ids[1], ids[0]]
        assert listed(since=T0 + timedelta(seconds=10)) == [ids[3], ids[2], ids[1]]
        assert store.unacknowledged_counts() == {"warning": 2, "critical": 1}
        assert store.unacknowledged_by_robot() == {"r1": 3}
        assert sorted(store.open_keys()) == [
            ("r1", "network", "connectivity", "warning"),
            ("r1", "servo", "servo_4", "critical"),
            ("r2", "servo", "servo_3", "warning"),
        ]


def test_many_writers_at_once_open_one_alert_per_round(db):
    """Eight threads, own sessions, the same change at the same moment, ten rounds."""
    writers, rounds = 8, 10
    barrier = threading.Barrier(writers)
    events: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def write(round_no: int) -> None:
        try:
            barrier.wait(10)
            source = f"servo_{round_no}"
            with db.session() as session:
                alert, event = AlertStore(session).apply(change("raised", source=source))
            events.append((alert.id, event))
        except BaseException as exc:  # reported below, with the round
            errors.append(exc)

    for round_no in range(rounds):
        threads = [threading.Thread(target=write, args=(round_no,)) for _ in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == []
    assert count_alerts(db) == rounds
    assert sorted(event for _, event in events).count("raised") == rounds
    with db.session() as session:
        raised_rows = session.scalar(select(func.count()).select_from(AlertEvent)
                                     .where(AlertEvent.event == "raised"))
    assert raised_rows == rounds


# -- deterministic races on PostgreSQL: the second writer provably waits on the first ----

def _waiting_on_a_lock(db: Database) -> bool:
    with db.engine.connect() as conn:
        return bool(conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")))


def _second_writer(db: Database, action) -> tuple[threading.Thread, list]:
    result: list = []

    def run() -> None:
        with Session(db.engine, expire_on_commit=False) as session, session.begin():
            result.append(action(AlertStore(session)))

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def _wait_for_lock(db: Database, thread: threading.Thread) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while not _waiting_on_a_lock(db):
        assert thread.is_alive(), "the second writer did not wait for the first"
        assert datetime.now(UTC) < deadline, "the second writer never blocked"
        threading.Event().wait(0.02)


@pytest.mark.parametrize("records_url", ["postgresql"], indirect=True)
def test_two_ingest_transactions_raising_together_make_one_alert(db):
    with Session(db.engine, expire_on_commit=False) as first:
        first.begin()
        mine, event = AlertStore(first).apply(change("raised"))
        assert event == "raised"
        thread, result = _second_writer(db, lambda store: store.apply(change("raised")))
        _wait_for_lock(db, thread)  # blocked on ux_alerts_open by our uncommitted row
        first.commit()
    thread.join(10)
    [(theirs, their_event)] = result
    assert (theirs.id, their_event) == (mine.id, "unchanged")
    assert count_alerts(db) == 1


@pytest.mark.parametrize("records_url", ["postgresql"], indirect=True)
def test_two_acknowledges_at_once_one_wins_the_other_is_told(db):
    [(alert_id, _)] = apply(db, change("raised"))
    with Session(db.engine, expire_on_commit=False) as first:
        first.begin()
        won = AlertStore(first).acknowledge(alert_id, "alice", "on it")
        thread, result = _second_writer(
            db, lambda store: store.acknowledge(alert_id, "bob", "me"))
        _wait_for_lock(db, thread)  # bob's UPDATE waits for alice's row lock
        first.commit()
    thread.join(10)
    [lost] = result
    assert won.acknowledged and not lost.acknowledged
    assert (lost.by, lost.at) == ("alice", won.at)
    with db.session() as session:
        acks = [e.actor for e in AlertStore(session).history(alert_id)
                if e.event == "acknowledged"]
    assert acks == ["alice"]
