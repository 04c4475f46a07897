"""The project's programs as real processes, the way they run in production."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0
TEST_INGEST_SECTION = "flush_interval_s = 0.05\nstats_interval_s = 2\n"
FAST_RATES_S = {"status": 0.5, "performance": 0.05, "battery": 0.1, "servos": 0.2,
                "imu": 0.05, "sensors": 0.1}


class Program:
    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None):
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})})

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout_s: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_agent(robot_id: str, broker_port: int, workdir: Path,
                scenario: str = "normal", env: dict[str, str] | None = None) -> Program:
    """`env` adds settings, e.g. TONYPI_AGENT_OUTBOX_RECEIPT_TIMEOUT_S."""
    env = {f"TONYPI_AGENT_RATE_{kind.upper()}_S": str(rate)
           for kind, rate in FAST_RATES_S.items()} | (env or {})
    env.setdefault("TONYPI_AGENT_SEED", "7")
    return Program(["-m", "robot_agent", "--simulate", "--robot-id", robot_id,
                    "--scenario", scenario, "--broker", f"127.0.0.1:{broker_port}",
                    "--outbox", str(workdir / f"{robot_id}-outbox.db")],
                   workdir / f"agent-{robot_id}.log", env)


def last_seq(workdir: Path, robot_id: str) -> int:
    with sqlite3.connect(workdir / f"{robot_id}-outbox.db") as db:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (f"seq:{robot_id}",))
        return row.fetchone()[0]


def outbox_count(workdir: Path, robot_id: str) -> int:
    with sqlite3.connect(workdir / f"{robot_id}-outbox.db") as db:
        return db.execute("SELECT count(*) FROM messages").fetchone()[0]


def start_ingest(broker_port: int, records_url: str, history_url: str, workdir: Path,
                 client_id: str = "tonypi-ingest-e2e", shared_group: str | None = None,
                 ingest_section: str = TEST_INGEST_SECTION) -> Program:
    """An ingest process; instances sharing the work need their own `client_id` (the
    same one again after a restart: it names the persistent session) and one
    `shared_group`.  `ingest_section` is the [ingest] TOML (tests flush fast)."""
    config = workdir / f"ingest-{client_id}.toml"
    group = f'shared_group = "{shared_group}"\n' if shared_group else ""
    config.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker_port}\nclient_id = "{client_id}"\n'
        + group +
        f'[records]\nurl = "{records_url}"\n'
        f'[history]\nbackend = "sql"\nurl = "{history_url}"\n'
        '[ingest]\n' + ingest_section)
    attempt = len(list(workdir.glob("ingest-*.log"))) + 1
    program = Program(["-m", "services.ingest.cli", "--config", str(config)],
                      workdir / f"ingest-{attempt}.log")
    # A broker drops what nobody subscribes to: the ingest's persistent session must
    # exist before robots publish, as it does in a running lab.
    deadline = time.monotonic() + START_TIMEOUT_S
    while "subscribed to" not in program.log():
        if time.monotonic() > deadline or program.proc.poll() is not None:
            raise RuntimeError(f"ingest did not start:\n{program.log()}")
        time.sleep(0.05)
    return program
