"""The ingest service against a real Mosquitto and PostgreSQL."""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from services.records import dead_letters
from services.records.repositories import JobRepository, LogRepository, RobotRepository
from services.wire.encode import encode
from tests.services.wire.legacy_samples import (
    JOB_EVENT_STARTED,
    JOB_PROGRESS,
    LEGACY_MESSAGES,
    RID,
)
from tests.support.pipeline import Publisher, start_ingest
from tests.support.waiting import wait_until


@pytest.fixture
def pipeline(mosquitto, pg_url):
    pipe = start_ingest(mosquitto.port, pg_url)
    yield pipe
    pipe.stop()


@pytest.fixture
def publisher(mosquitto):
    pub = Publisher(mosquitto.port, qos=1)
    yield pub
    pub.close()


def stored(pipeline, n):
    wait_until(lambda: pipeline.service.stats().stored + pipeline.service.stats().rejected >= n,
               message=f"{n} messages handled")


def window():
    now = datetime.now(UTC)
    return now - timedelta(minutes=5), now + timedelta(minutes=5)


def test_legacy_payloads_of_every_topic_are_stored(pipeline, publisher):
    for topic, body in LEGACY_MESSAGES.items():
        publisher.send(topic, body)
    stored(pipeline, len(LEGACY_MESSAGES))
    assert pipeline.service.stats().rejected == 0
    start, stop = window()
    store = pipeline.store

    def value(measurement, field, series=""):
        (bucket,) = store.query(RID, measurement, field, start, stop, 1, series)
        return bucket.max

    assert value("performance", "cpu_percent") == 23.5  # status system_info
    assert value("performance", "disk_percent") == 55.2  # pi_status and status agree
    assert value("sensors", "value", "ultrasonic_distance") == 42.5
    assert value("sensors", "value", "vision_confidence") == 0.91
    assert value("servos", "temperature", "servo_2") == 71.0
    assert value("battery", "percentage") == 76.0  # topic without robot id
    assert value("location", "y") == -0.25
    with pipeline.db.session() as session:
        robot = RobotRepository(session).get(RID)
        assert (robot.status, robot.ip_address) == ("online", "192.168.1.50")
        assert robot.camera_url.startswith("http://192.168.1.50")
        messages = [log.message for log in LogRepository(session).list(robot_id=RID)]
    assert "servo 2 warm" in messages
    assert any("ITEM-0042" in m for m in messages)  # scan
    assert any("command e-1 succeeded" in m for m in messages)
    assert any("registered" in m for m in messages), messages


def test_jobs_move_from_active_to_completed_in_both_shapes(pipeline, publisher):
    publisher.send(f"tonypi/job/{RID}", JOB_PROGRESS)
    stored(pipeline, 1)
    with pipeline.db.session() as session:
        job = JobRepository(session).active(RID)
        assert (job.status, job.items_done, job.items_total) == ("active", 3, 10)
    publisher.send(f"tonypi/job/{RID}", dict(JOB_PROGRESS, items_done=10, percent=100.0,
                                             status="completed"))
    publisher.send(f"tonypi/job/{RID}", JOB_EVENT_STARTED)
    publisher.send(f"tonypi/job/{RID}", dict(JOB_EVENT_STARTED, status="in_progress",
                                             items_done=1, items_total=2))
    publisher.send(f"tonypi/job/{RID}", dict(JOB_EVENT_STARTED, status="completed",
                                             items_done=2, items_total=2, success=True))
    stored(pipeline, 5)
    with pipeline.db.session() as session:
        jobs = JobRepository(session).list(robot_id=RID)
        assert JobRepository(session).active(RID) is None
    assert [(j.status, j.items_done, j.task_name) for j in jobs] == [
        ("completed", 2, "sort_items"), ("completed", 10, None)]
    assert all(j.end_time is not None for j in jobs)


def test_own_format_duplicates_stored_once_and_bad_input_counted(pipeline, publisher):
    now = datetime.now(UTC)
    messages = [encode("performance", "tonypi_07", seq, {"cpu_percent": float(seq)},
                       now - timedelta(seconds=10 - seq)) for seq in range(1, 6)]
    for topic, payload in messages + messages[1:3]:  # two redelivered
        publisher.send(topic, payload)
    hostile = [
        ("tonypi/performance/tonypi_07", b"{broken"),
        ("tonypi/performance/tonypi_07", b" " * (10 * 1024 * 1024)),
        ("tonypi/battery", b'{"robot_id": "x\\") |> drop(", "percentage": 5}'),
        ("tonypi/battery", b'{"robot_id": "r", "percentage": NaN}'),
        ("tonypi/status/tonypi_07", b'{"v": 1, "seq": "x"}'),
    ]
    for topic, payload in hostile:
        publisher.send(topic, payload)
    wait_until(lambda: pipeline.service.stats().received >= 12, message="all received")
    wait_until(lambda: pipeline.service.stats().rejected == 5, message="rejections counted")
    wait_until(lambda: pipeline.service.stats().stored == 5, message="stored")
    stats = pipeline.service.stats()
    assert (stats.stored, stats.duplicates) == (5, 2)
    assert set(pipeline.service.rejected_by_reason) == {"bad_json", "oversized", "bad_robot_id",
                                                        "bad_field"}
    with pipeline.store.engine.connect() as conn:
        seqs = sorted(r[0] for r in conn.exec_driver_sql(
            "SELECT seq FROM samples WHERE robot_id = 'tonypi_07'"))
    assert seqs == [1, 2, 3, 4, 5]
    publisher.send(*encode("performance", "tonypi_07", 6, {"cpu_percent": 6.0}))
    stored(pipeline, 6 + 5)  # still alive after all that


def test_store_outage_keeps_messages_until_stored(mosquitto, postgres_server):
    history_url = postgres_server.create_database()
    records_url = postgres_server.create_database()
    pipe = start_ingest(mosquitto.port, records_url, history_url)
    publisher = Publisher(mosquitto.port, qos=1)
    name = history_url.rsplit("/", 1)[1]
    admin = psycopg.connect(f"host=127.0.0.1 port={postgres_server.port} user=postgres "
                            "dbname=postgres", autocommit=True)
    try:
        publisher.send(*encode("battery", "tonypi_09", 1, {"percentage": 50.0}))
        stored(pipe, 1)
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s", (name,))
        for seq in range(2, 12):
            publisher.send(*encode("battery", "tonypi_09", seq, {"percentage": 50.0 - seq}))
        wait_until(lambda: pipe.service.stats().store_failures >= 2, message="store failing")
        assert pipe.service.stats().stored == 1
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        stored(pipe, 11)
        with pipe.store.engine.connect() as conn:
            seqs = sorted(r[0] for r in conn.exec_driver_sql(
                "SELECT seq FROM samples WHERE robot_id = 'tonypi_09'"))
        assert seqs == list(range(1, 12))
    finally:
        admin.close()
        publisher.close()
        pipe.stop()


def test_poison_message_is_isolated_and_the_rest_stored(pipeline, publisher, monkeypatch):
    """A message that breaks storing for a non-transient reason must not block its batch."""
    from services.ingest import records_writer

    real_apply_one = records_writer._apply_one

    def explode_on_poison(message, jobs, logs):
        if message.log is not None and message.log.message == "poison":
            raise RuntimeError("simulated bug")
        real_apply_one(message, jobs, logs)

    monkeypatch.setattr(records_writer, "_apply_one", explode_on_poison)
    for seq, text in enumerate(["fine 1", "poison", "fine 2"], start=1):
        publisher.send(*encode("logs", "tonypi_11", seq, {"level": "INFO", "message": text}))
    wait_until(lambda: pipeline.service.stats().stored == 2, message="good messages stored")
    wait_until(lambda: pipeline.service.stats().dead_lettered == 1, message="dead letter")
    assert pipeline.service.rejected_by_reason == {}
    with pipeline.db.session() as session:
        texts = {log.message for log in LogRepository(session).list(robot_id="tonypi_11")}
        (letter,) = dead_letters.list_all(session)
    assert {"fine 1", "fine 2"} <= texts and "poison" not in texts
    assert letter.topic == "tonypi/logs/tonypi_11" and b'"poison"' in letter.payload
    assert "simulated bug" in letter.error and letter.count == 1


def test_a_legacy_status_with_a_drifted_field_is_stored_and_the_drop_counted(pipeline,
                                                                            publisher):
    """Field types drift between legacy client versions: the odd field goes, the
    message stays (with its IP address, camera and performance point)."""
    status = dict(LEGACY_MESSAGES[f"tonypi/status/{RID}"])
    status["emergency_stopped"] = "no"  # a string where a boolean belongs
    status["ip_address"] = 1921681  # a number where a string belongs
    publisher.send(f"tonypi/status/{RID}", status)
    stored(pipeline, 1)
    assert pipeline.service.stats().rejected == 0
    notes = pipeline.service.notes_by_reason
    assert notes.get("dropped:emergency_stopped:type") == 1, notes
    assert notes.get("dropped:ip_address:type") == 1, notes
    with pipeline.db.session() as session:
        robot = RobotRepository(session).get(RID)
    assert robot.status == "online" and robot.camera_url.startswith("http://192.168.1.50")
    start, stop = window()
    (bucket,) = pipeline.store.query(RID, "performance", "cpu_percent", start, stop, 1)
    assert bucket.max == 23.5
