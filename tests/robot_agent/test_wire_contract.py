"""Everything the agent emits parses with the project's own parser (the ingest's)."""

from __future__ import annotations

import pytest

from robot_agent.agent import Agent, Collectors
from robot_agent.collectors.simulation import SCENARIOS, SimulatedRobot
from robot_agent.collectors.system import SystemCollector
from robot_agent.outbox import Outbox
from services.wire.model import Kind
from services.wire.parse import parse_message
from tests.robot_agent.helpers import agent_config
from tests.support.servers import free_port


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_kind_from_every_scenario_parses(tmp_path, scenario):
    config = agent_config(tmp_path, free_port(), scenario=scenario)  # never started
    robot = SimulatedRobot(scenario, seed=3)
    agent = Agent(config, Collectors(SystemCollector(), robot),
                  Outbox(config.outbox.path))
    for second in range(120):
        robot.advance(1.0)
        for kind in config.rates_s:
            agent.sample(kind)
        for kind, data in robot.drain_events():
            agent._emit(kind, data)
        if second == 60:
            agent.set_emergency("contract test")
        if second == 70:
            agent.resume()
    rows = agent.outbox.pending(limit=100_000)
    kinds = set()
    for row in rows:
        message = parse_message(row.topic, row.payload)
        assert message.robot_id == config.robot_id and not message.legacy
        kinds.add(message.kind)
    expected = {Kind.STATUS, Kind.PERFORMANCE, Kind.BATTERY, Kind.SERVOS, Kind.IMU,
                Kind.SENSORS, Kind.LOG}
    assert expected <= kinds
    if scenario == "job":
        assert Kind.JOB in kinds
    statuses = [parse_message(r.topic, r.payload).status for r in rows if "/status/" in r.topic]
    assert any(s.emergency_stopped for s in statuses)


def test_command_responses_parse_as_responses(tmp_path):
    config = agent_config(tmp_path, free_port())
    agent = Agent(config, Collectors(SystemCollector(), SimulatedRobot(seed=1)),
                  Outbox(config.outbox.path))
    sent = []
    agent.commands.respond = lambda topic, payload: sent.append((topic, payload))
    agent.commands.handle(f"tonypi/commands/{config.robot_id}",
                          b'{"type": "status_request", "id": "c9"}')
    agent.commands.handle(f"tonypi/emergency_stop/{config.robot_id}",
                          b'{"type": "emergency_stop", "id": "e9", "reason": "x"}')
    parsed = [parse_message(topic, payload) for topic, payload in sent]
    assert [p.command_response.command_id for p in parsed] == ["c9", "e9"]
    assert [p.command_response.emergency for p in parsed] == [False, True]
    assert all(p.command_response.success for p in parsed)
