"""The whole agent (simulation, outbox, publisher) against a real Mosquitto."""

from __future__ import annotations

import socket
import time

from robot_agent.outbox import Outbox
from tests.robot_agent.helpers import Subscriber, agent_config, make_agent, seqs
from tests.support.servers import free_port

ROBOT = "test_bot"


def statuses(messages):
    return [m.json() for m in messages if m.topic == f"tonypi/status/{ROBOT}"]


def test_every_kind_is_published_with_rising_seq_and_utc_ts(tmp_path, mosquitto):
    sub = Subscriber(mosquitto.port, [f"tonypi/+/{ROBOT}"])
    agent = make_agent(agent_config(tmp_path, mosquitto.port))
    agent.start()
    try:
        wanted = {"status", "performance", "battery", "servos", "imu", "sensors"}
        messages = sub.wait_for(lambda m: wanted <= {x.topic.split("/")[1] for x in m})
    finally:
        agent.stop()
        sub.close()
    numbered = [m.json() for m in messages if m.json()["seq"] is not None]
    assert [b["seq"] for b in numbered] == sorted(b["seq"] for b in numbered)
    body = numbered[0]
    assert body["v"] == 1 and body["robot_id"] == ROBOT and body["ts"].endswith("+00:00")
    birth = statuses(messages)[0]
    assert birth["seq"] is None and birth["data"]["status"] == "online"
    assert birth["data"]["hardware_mode"] == "simulation"
    assert agent.stats()["sample_errors"] == 0


def test_broker_outage_loses_nothing(tmp_path, mosquitto):
    # The subscriber keeps a persistent session, so Mosquitto (persistence on) keeps
    # queueing for it across its own restart.
    sub = Subscriber(mosquitto.port, [f"tonypi/+/{ROBOT}"], client_id="outage-watcher",
                     clean_session=False)
    agent = make_agent(agent_config(tmp_path, mosquitto.port))
    agent.start()
    try:
        sub.wait_for(lambda m: len(seqs(m, ROBOT)) >= 20)
        mosquitto.stop()
        queued_before = agent.outbox.count()
        time.sleep(3)  # the agent keeps sampling into the outbox
        assert agent.outbox.count() > queued_before + 50
        mosquitto.start()
        assert agent.publisher.wait_connected(10)
        deadline = time.monotonic() + 10
        while agent.publisher.stats().reconnects < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        agent.stop(drain_timeout_s=10)
    last_seq = agent.outbox.next_seq() - 1
    try:
        messages = sub.wait_for(lambda m: set(range(1, last_seq + 1)) <= set(seqs(m, ROBOT)),
                                timeout_s=15)
    except AssertionError:
        missing = sorted(set(range(1, last_seq + 1)) - set(seqs(sub.snapshot(), ROBOT)))
        raise AssertionError(f"{len(missing)} of {last_seq} seqs never arrived: {missing}"
                             ) from None
    finally:
        sub.close()
    received = seqs(messages, ROBOT)
    assert set(received) == set(range(1, last_seq + 1))  # duplicates allowed, none missing
    assert agent.outbox.count() == 0
    stats = agent.publisher.stats()
    assert stats.reconnects >= 1
    # every row was handed to paho exactly once; the rest are the births (one per connect)
    assert stats.published == last_seq + stats.reconnects + 1


def test_a_new_agent_replays_what_the_old_one_could_not_send(tmp_path, mosquitto):
    dead_port = free_port()  # nothing listens there: the first agent never connects
    first = make_agent(agent_config(tmp_path, dead_port))
    first.start()
    time.sleep(0.8)
    first.stop(drain_timeout_s=0.2)
    first.outbox.close()
    left_over = Outbox(tmp_path / "outbox.db")
    stranded = left_over.count()
    last_old_seq = left_over.next_seq() - 1  # (allocates one seq: a gap after the replay)
    left_over.close()
    assert stranded == last_old_seq > 10

    sub = Subscriber(mosquitto.port, [f"tonypi/+/{ROBOT}"])
    second = make_agent(agent_config(tmp_path, mosquitto.port))
    second.start()
    try:
        messages = sub.wait_for(
            lambda m: set(range(1, last_old_seq + 1)) <= set(seqs(m, ROBOT))
            and max(seqs(m, ROBOT)) > last_old_seq + 5)
    finally:
        second.stop()
        sub.close()
    received = seqs(messages, ROBOT)
    assert received[:last_old_seq] == list(range(1, last_old_seq + 1))  # replayed in order
    assert min(s for s in received if s > last_old_seq) == last_old_seq + 2  # seq continues
    assert second.outbox.count() == 0


def test_last_will_reports_offline_when_the_connection_dies(tmp_path, mosquitto):
    sub = Subscriber(mosquitto.port, [f"tonypi/status/{ROBOT}"])
    agent = make_agent(agent_config(tmp_path, mosquitto.port))
    agent.start()
    try:
        sub.wait_for(lambda m: any(s["data"]["status"] == "online" for s in statuses(m)))
        agent.publisher._client.socket().shutdown(socket.SHUT_RDWR)  # no DISCONNECT sent
        messages = sub.wait_for(
            lambda m: any(s["data"]["status"] == "offline" for s in statuses(m)))
        will = next(s for s in statuses(messages) if s["data"]["status"] == "offline")
        assert will["seq"] is None and will["robot_id"] == ROBOT
        # paho reconnects and announces itself again with a birth (seq None)
        def reborn(m):
            found = statuses(m)
            after = found[found.index(will) + 1:]
            return any(s["seq"] is None and s["data"]["status"] == "online" for s in after)

        sub.wait_for(reborn)
        assert agent.publisher.stats().reconnects == 1
    finally:
        agent.stop()
        sub.close()


def test_graceful_stop_leaves_a_retained_offline_status(tmp_path, mosquitto):
    agent = make_agent(agent_config(tmp_path, mosquitto.port))
    agent.start()
    assert agent.publisher.wait_connected(5)
    time.sleep(0.3)
    agent.stop()
    late = Subscriber(mosquitto.port, [f"tonypi/status/{ROBOT}"])
    try:
        messages = late.wait_for(lambda m: len(m) >= 1)
    finally:
        late.close()
    assert messages[0].retain
    body = messages[0].json()
    assert body["data"]["status"] == "offline" and body["seq"] is not None
