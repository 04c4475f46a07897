"""Commands over a real broker, answered in the legacy response shape."""

from __future__ import annotations

import json

import pytest

from tests.robot_agent.helpers import Subscriber, agent_config, make_agent

ROBOT = "test_bot"
CMD = f"tonypi/commands/{ROBOT}"
ESTOP = f"tonypi/emergency_stop/{ROBOT}"
LEGACY_KEYS = {"robot_id", "command_id", "timestamp", "success", "message"}


@pytest.fixture
def rig(tmp_path, mosquitto):
    sub = Subscriber(mosquitto.port, ["tonypi/commands/response",
                                      "tonypi/emergency_stop/response",
                                      f"tonypi/status/{ROBOT}"])
    agent = make_agent(agent_config(tmp_path, mosquitto.port, scenario="job"))
    agent.start()
    assert agent.publisher.wait_connected(5)
    # commands are subscribed in on_connect: wait until one round-trips
    _ask(sub, CMD, {"type": "status_request", "id": "warmup"}, retries=True)
    yield agent, sub
    agent.stop()
    sub.close()


def _ask(sub: Subscriber, topic: str, body, retries: bool = False,
         response_topic: str = "tonypi/commands/response") -> dict:
    command_id = body.get("id") if isinstance(body, dict) else None
    payload = body if isinstance(body, bytes) else json.dumps(body)

    def answered(messages):
        return any(m.topic == response_topic and m.json()["command_id"] == command_id
                   for m in messages)

    for _ in range(50 if retries else 1):
        sub.publish(topic, payload)
        try:
            messages = sub.wait_for(answered, timeout_s=0.1 if retries else 5)
            break
        except AssertionError:
            continue
    else:
        raise AssertionError(f"no response to {body!r}")
    response = next(m.json() for m in messages
                    if m.topic == response_topic and m.json()["command_id"] == command_id)
    assert LEGACY_KEYS <= set(response) and response["robot_id"] == ROBOT
    return response


def _last_status(sub: Subscriber) -> dict:
    return [m.json() for m in sub.snapshot() if m.topic.startswith("tonypi/status/")][-1]


def test_status_request_publishes_a_status(rig):
    agent, sub = rig
    response = _ask(sub, CMD, {"type": "status_request", "id": "c1"})
    assert response["success"] is True and response["status"] == "online"


def test_emergency_stop_blocks_motion_until_resume(rig):
    agent, sub = rig
    response = _ask(sub, ESTOP, {"type": "emergency_stop", "id": "e1", "reason": "test"},
                    response_topic="tonypi/emergency_stop/response")
    assert response["success"] is True and agent.emergency_stopped
    sub.wait_for(lambda m: _last_status(sub)["data"]["status"] == "emergency_stopped")
    assert _last_status(sub)["data"]["emergency_reason"] == "test"

    blocked = _ask(sub, CMD, {"type": "move", "id": "m1", "direction": "forward"})
    assert blocked["success"] is False and "emergency" in blocked["message"]
    assert _ask(sub, CMD, {"type": "battery_request", "id": "b1"})["success"] is True
    assert _ask(sub, CMD, {"type": "status_request", "id": "s1"})["status"] == \
        "emergency_stopped"

    resumed = _ask(sub, CMD, {"type": "resume", "id": "r1"})
    assert resumed["success"] is True and not agent.emergency_stopped
    sub.wait_for(lambda m: _last_status(sub)["data"]["status"] == "online")
    assert _ask(sub, CMD, {"type": "move", "id": "m2"})["success"] is True
    nod = _ask(sub, "tonypi/commands/broadcast", {"type": "head_nod", "id": "h1"})
    assert nod["success"] is True


def test_emergency_stop_sent_as_a_command_answers_on_the_command_topic(rig):
    agent, sub = rig
    response = _ask(sub, CMD, {"type": "emergency_stop", "id": "e2"})
    assert response["success"] is True and agent.emergency_stopped
    # a repeated emergency stop is still accepted: it can only make things safer
    assert _ask(sub, "tonypi/emergency_stop/broadcast", {"id": "e3"},
                response_topic="tonypi/emergency_stop/response")["success"] is True


def test_malformed_commands_are_counted_and_answered_when_they_have_an_id(rig):
    agent, sub = rig
    before = agent.commands.malformed
    sub.publish(CMD, b"{not json")
    no_type = _ask(sub, CMD, {"id": "x1"})
    assert no_type["success"] is False and "malformed" in no_type["message"]
    unknown = _ask(sub, CMD, {"type": "fly", "id": "x2"})
    assert unknown["success"] is False and "unknown" in unknown["message"]
    assert agent.commands.malformed == before + 2
    assert agent.publisher.stats().handler_errors == 0


def test_shutdown_answers_then_asks_the_agent_to_stop(rig):
    agent, sub = rig
    response = _ask(sub, CMD, {"type": "shutdown", "id": "q1"})
    assert response["success"] is True and "host stays" in response["message"]
    assert agent.wait_for_shutdown(2)
