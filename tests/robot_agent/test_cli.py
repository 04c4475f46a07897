"""`python -m robot_agent` as a process: starts, publishes, stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from robot_agent.cli import EXIT_CONFIG_ERROR
from tests.robot_agent.helpers import Subscriber

ROBOT = "cli_bot"


def _env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TONYPI_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    return env


def test_runs_until_sigterm_then_leaves_offline_status(tmp_path, mosquitto):
    config = tmp_path / "agent.toml"
    config.write_text(f'[agent]\nrobot_id = "{ROBOT}"\n[rates]\nimu = 0.1\n')
    sub = Subscriber(mosquitto.port, [f"tonypi/+/{ROBOT}"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "robot_agent", "--config", str(config), "--simulate",
         "--scenario", "job", "--broker", f"127.0.0.1:{mosquitto.port}",
         "--log-level", "WARNING"],
        env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        sub.wait_for(lambda m: sum(x.topic == f"tonypi/imu/{ROBOT}" for x in m) >= 5,
                     timeout_s=10)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
        assert proc.returncode == 0, stderr.decode()
        messages = sub.wait_for(lambda m: json.loads(m[-1].payload)["data"].get("status")
                                == "offline")
    finally:
        if proc.poll() is None:
            proc.kill()
        sub.close()
    assert (tmp_path / "state" / "tonypi-agent" / "outbox.db").exists()
    last = json.loads(messages[-1].payload)
    assert last["seq"] is not None and last["data"]["hardware_mode"] == "simulation"


def test_bad_robot_id_exits_with_a_clear_message(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "robot_agent", "--robot-id", "bad/id", "--simulate"],
        env=_env(tmp_path), capture_output=True, timeout=30)
    assert result.returncode == EXIT_CONFIG_ERROR
    assert b"robot id 'bad/id' is not allowed" in result.stderr
