"""A broker crash while the ingest is away: end-to-end receipts lose nothing.

Agent, Mosquitto and ingest run as separate processes.  The ingest goes away for a few
seconds while the agent keeps publishing: Mosquitto PUBACKs those messages and queues
them, in memory, for the ingest's persistent session.  Then Mosquitto is SIGKILLed
before it autosaves: the queue is gone although every message was acknowledged.  Only
the agent's outbox, which keeps each row until the ingest's receipt covers its seq, can
deliver them again.  The control test shows the same crash without receipts loses data.
"""

from __future__ import annotations

import time

import pytest

from tests.integration.test_no_loss import (  # noqa: F401 - `urls` is a fixture
    check_exactly_once,
    stored_seqs,
    urls,
    wait_all_stored,
)
from tests.support.processes import last_seq, outbox_count, start_agent, start_ingest
from tests.support.waiting import wait_until

RUN_S = 2.0
INGEST_AWAY_S = 5.0


def crash_broker(mosquitto) -> None:
    """SIGKILL: Mosquitto gets no chance to write its persistence file."""
    mosquitto.proc.kill()
    mosquitto.proc.wait(10)
    mosquitto.proc = None


def start_ingests(port, records_url, history_url, workdir, instances):
    group = "tonypi-ingest" if instances > 1 else None
    return [start_ingest(port, records_url, history_url, workdir,
                         client_id=f"tonypi-ingest-e2e-{n}", shared_group=group)
            for n in range(instances)]


@pytest.mark.parametrize("instances", [1, 2], ids=["one-ingest", "shared-subscription"])
def test_ingest_away_then_broker_killed_loses_nothing(mosquitto, urls, tmp_path,  # noqa: F811
                                                      instances):
    records_url, history_url = urls
    robot = f"e2e_crash_{instances}"
    ingests = start_ingests(mosquitto.port, records_url, history_url, tmp_path, instances)
    # The production receipt timeout (30 s): the agent's re-send after the broker's
    # restart can reach it before the restarted ingest has subscribed again (a broker
    # drops what nobody subscribes to); the ingest's announcement that it is back makes
    # the agent send again at once, well within this test's time.
    agent = start_agent(robot, mosquitto.port, tmp_path)
    try:
        time.sleep(RUN_S)  # the scenario: a while of normal operation
        ingests[0].stop()  # SIGTERM: a clean stop, its session stays on the broker
        for ingest in ingests[1:]:
            ingest.kill()  # and SIGKILL for the other
        seq_gone = last_seq(tmp_path, robot)
        time.sleep(INGEST_AWAY_S)  # the broker queues for the ingest sessions, in memory
        assert last_seq(tmp_path, robot) > seq_gone + 100
        assert outbox_count(tmp_path, robot) > 100  # PUBACKed, yet kept: unconfirmed
        crash_broker(mosquitto)
        mosquitto.start()  # same port, same persistence directory
        # The worst order: the agent is back first and re-sends into a broker where no
        # ingest session exists any more, so those copies are dropped too.
        wait_until(lambda: "reconnected to the broker" in agent.log(), 15,
                   message="agent reconnected")
        time.sleep(1.0)
        ingests = start_ingests(mosquitto.port, records_url, history_url, tmp_path,
                                instances)
        time.sleep(RUN_S)
        assert agent.stop() == 0, agent.log()
        wait_all_stored(records_url, history_url, robot, tmp_path)
        check_exactly_once(records_url, history_url, robot, tmp_path)
        log = agent.log()
        assert "reconnected to the broker" in log, log
        assert "(re)connected: sending unconfirmed messages again" in log, log
        assert "no receipt for" not in log, log  # the timeout was never needed
    finally:
        agent.stop()
        for ingest in ingests:
            assert ingest.stop() == 0, ingest.log()


def test_without_receipts_the_same_crash_loses_messages(mosquitto, urls,  # noqa: F811
                                                        tmp_path):
    """The control: with await_receipts off the agent deletes at PUBACK, so the crash
    loses what the broker queued while the ingest was away.  If this ever passes
    without loss, the scenario above no longer tests anything."""
    records_url, history_url = urls
    robot = "e2e_crash_control"
    [ingest] = start_ingests(mosquitto.port, records_url, history_url, tmp_path, 1)
    agent = start_agent(robot, mosquitto.port, tmp_path,
                        env={"TONYPI_AGENT_OUTBOX_AWAIT_RECEIPTS": "false"})
    try:
        time.sleep(RUN_S)
        ingest.stop()
        time.sleep(INGEST_AWAY_S)
        assert outbox_count(tmp_path, robot) < 50  # gone from the outbox at PUBACK
        crash_broker(mosquitto)
        mosquitto.start()
        [ingest] = start_ingests(mosquitto.port, records_url, history_url, tmp_path, 1)
        time.sleep(RUN_S)
        assert agent.stop() == 0, agent.log()
        last = last_seq(tmp_path, robot)
        # the agent's last message (its offline status) arrives after everything else
        wait_until(lambda: last in stored_seqs(records_url, history_url, robot)[0], 30,
                   interval_s=0.25, message="the last seq stored")
        assert outbox_count(tmp_path, robot) == 0
        seqs, _ = stored_seqs(records_url, history_url, robot)
        missing = set(range(1, last + 1)) - seqs
        assert len(missing) > 50, f"expected the crash to lose messages, lost {len(missing)}"
    finally:
        agent.stop()
        assert ingest.stop() == 0, ingest.log()
