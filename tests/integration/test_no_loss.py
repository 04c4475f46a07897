"""Agent -> Mosquitto -> ingest -> stores, as separate processes: nothing lost, nothing doubled.

Every message of the project's format carries a per-robot sequence number.  Messages with
samples leave their seq on every stored point; status, job and log messages leave a
durable receipt.  Together they must cover 1..last exactly once.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

from services.records.db import Database
from services.records.migrate import upgrade
from services.records.repositories import RobotRepository
from tests.support.processes import last_seq, outbox_count, start_agent, start_ingest
from tests.support.waiting import wait_until

RUN_S = 2.0


def stored_seqs(records_url: str, history_url: str, robot_id: str) -> tuple[set[int], int]:
    """(every seq that reached a store, number of points stored more than once)."""
    history = create_engine(history_url)
    with history.connect() as conn:
        sample_seqs = {r[0] for r in conn.execute(
            text("SELECT DISTINCT seq FROM samples WHERE robot_id = :r"), {"r": robot_id})}
        doubled = conn.execute(text(
            "SELECT count(*) FROM (SELECT seq, measurement, field, series FROM samples "
            "WHERE robot_id = :r GROUP BY seq, measurement, field, series "
            "HAVING count(*) > 1) d"), {"r": robot_id}).scalar_one()
    history.dispose()
    records = create_engine(records_url)
    with records.connect() as conn:
        receipt_seqs = {r[0] for r in conn.execute(
            text("SELECT seq FROM ingest_receipts WHERE robot_id = :r"), {"r": robot_id})}
    records.dispose()
    return sample_seqs | receipt_seqs, doubled


def wait_all_stored(records_url, history_url, robot_id, workdir, timeout_s=60.0):
    def complete():
        if outbox_count(workdir, robot_id):
            return False
        seqs, _ = stored_seqs(records_url, history_url, robot_id)
        return seqs >= set(range(1, last_seq(workdir, robot_id) + 1))
    wait_until(complete, timeout_s, interval_s=0.25, message="every seq stored")


def check_exactly_once(records_url, history_url, robot_id, workdir):
    last = last_seq(workdir, robot_id)
    seqs, doubled = stored_seqs(records_url, history_url, robot_id)
    assert last > 50
    assert seqs == set(range(1, last + 1))
    assert doubled == 0


@pytest.fixture
def urls(pg_url, tmp_path):
    history_url = f"sqlite:///{tmp_path / 'history.db'}"
    upgrade(pg_url)
    upgrade(history_url)
    return pg_url, history_url


def test_simulated_agent_reaches_postgres_and_history(mosquitto, urls, tmp_path):
    records_url, history_url = urls
    ingest = start_ingest(mosquitto.port, records_url, history_url, tmp_path)
    agent = start_agent("e2e_sim", mosquitto.port, tmp_path)
    try:
        time.sleep(RUN_S)
        assert agent.stop() == 0, agent.log()
        wait_all_stored(records_url, history_url, "e2e_sim", tmp_path)
        check_exactly_once(records_url, history_url, "e2e_sim", tmp_path)
        db = Database(records_url)
        with db.session() as session:
            robot = RobotRepository(session).get("e2e_sim")
            assert robot is not None and robot.last_seen is not None
            assert robot.status == "offline"  # the agent said goodbye on SIGTERM
        db.dispose()
    finally:
        agent.stop()
        assert ingest.stop() == 0, ingest.log()


def test_broker_outage_mid_stream_loses_nothing(mosquitto, urls, tmp_path):
    records_url, history_url = urls
    ingest = start_ingest(mosquitto.port, records_url, history_url, tmp_path)
    agent = start_agent("e2e_outage", mosquitto.port, tmp_path)
    try:
        time.sleep(RUN_S)
        mosquitto.stop()
        seq_at_outage = last_seq(tmp_path, "e2e_outage")
        time.sleep(4)  # the agent keeps sampling into its outbox
        assert last_seq(tmp_path, "e2e_outage") > seq_at_outage + 20
        assert outbox_count(tmp_path, "e2e_outage") > 20
        mosquitto.start()
        time.sleep(RUN_S)
        assert agent.stop() == 0, agent.log()
        wait_all_stored(records_url, history_url, "e2e_outage", tmp_path)
        check_exactly_once(records_url, history_url, "e2e_outage", tmp_path)
        # The broker kept the ingest's session (and its queue) across the restart.
        assert "session present: True" in ingest.log()
    finally:
        agent.stop()
        assert ingest.stop() == 0, ingest.log()


def test_ingest_killed_with_sigkill_loses_nothing(mosquitto, urls, tmp_path):
    records_url, history_url = urls
    ingest = start_ingest(mosquitto.port, records_url, history_url, tmp_path)
    agent = start_agent("e2e_kill", mosquitto.port, tmp_path)
    try:
        time.sleep(RUN_S)
        ingest.kill()
        time.sleep(3)  # the broker queues for the ingest's persistent session
        ingest = start_ingest(mosquitto.port, records_url, history_url, tmp_path)
        time.sleep(RUN_S)
        ingest.kill()  # and once more, while it is catching up
        ingest = start_ingest(mosquitto.port, records_url, history_url, tmp_path)
        time.sleep(1)
        assert agent.stop() == 0, agent.log()
        wait_all_stored(records_url, history_url, "e2e_kill", tmp_path)
        check_exactly_once(records_url, history_url, "e2e_kill", tmp_path)
    finally:
        agent.stop()
        assert ingest.stop() == 0, ingest.log()
