"""Pipeline demo: simulated robots -> Mosquitto -> tonypi-ingest -> SQLite stores.

Starts a private Mosquitto on a free loopback port, the ingest service and four simulated
agents (normal, overheating servo, draining battery, running a job) with the production
code paths, then prints what has arrived every few seconds: robots, their status, live
values from the history store, jobs and the newest log lines.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from robot_agent.agent import build_agent  # noqa: E402
from robot_agent.config import load_config  # noqa: E402
from services.history.sql_store import SqlHistoryStore  # noqa: E402
from services.ingest.service import IngestService  # noqa: E402
from services.mqtt_session import MqttSession  # noqa: E402
from services.records.db import Database  # noqa: E402
from services.records.migrate import upgrade  # noqa: E402
from services.records.repositories import JobRepository, LogRepository, RobotRepository  # noqa: E402
from services.settings import IngestSettings  # noqa: E402

ROBOTS = {"tonypi_demo_01": "normal", "tonypi_demo_02": "overheating",
          "tonypi_demo_03": "draining", "tonypi_demo_04": "job"}
REPORT_EVERY_S = 5.0


def start_broker(workdir: Path) -> tuple[subprocess.Popen, int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = workdir / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                      "max_inflight_messages 1000\nmax_queued_messages 1000000\n")
    proc = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


def latest(store: SqlHistoryStore, robot_id: str, measurement: str, field: str,
           series: str = "") -> float | None:
    now = datetime.now(UTC)
    buckets = store.query(robot_id, measurement, field, now - timedelta(seconds=10),
                          now + timedelta(seconds=1), 10, series)
    return buckets[-1].mean if buckets else None


def hottest_servo(store: SqlHistoryStore, robot_id: str) -> str:
    temps = []
    for key in store.list_fields(robot_id):
        if key.measurement == "servos" and key.field == "temperature":
            value = latest(store, robot_id, "servos", "temperature", key.series)
            if value is not None:
                temps.append((value, key.series))
    if not temps:
        return "-"
    value, servo = max(temps)
    return f"{servo} {value:.1f} C"


def report(db: Database, store: SqlHistoryStore, service: IngestService) -> None:
    stats = service.stats()
    print(f"\n== {datetime.now(UTC):%H:%M:%S} UTC  received={stats.received} "
          f"stored={stats.stored} samples={stats.samples_written} rejected={stats.rejected}")
    with db.session() as session:
        for robot in RobotRepository(session).list():
            cpu = latest(store, robot.robot_id, "performance", "cpu_percent")
            battery = latest(store, robot.robot_id, "battery", "percentage")
            print(f"  {robot.robot_id:<16} {robot.status:<8} "
                  f"cpu {cpu if cpu is None else round(cpu, 1)!s:>5}%  "
                  f"battery {battery if battery is None else round(battery, 1)!s:>5}%  "
                  f"hottest {hottest_servo(store, robot.robot_id)}")
        for job in JobRepository(session).list(limit=3):
            print(f"  job #{job.id} {job.robot_id} {job.task_name or ''} {job.status} "
                  f"{job.items_done}/{job.items_total}")
        for log in LogRepository(session).list(limit=3):
            print(f"  log {log.timestamp:%H:%M:%S} {log.level:<7} {log.robot_id or '-'}: "
                  f"{log.message[:70]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to run (0: forever)")
    parser.add_argument("--data-dir", type=Path, help="keep the SQLite files here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    workdir = args.data_dir or Path(tempfile.mkdtemp(prefix="tonypi-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    broker, port = start_broker(workdir)
    url = f"sqlite:///{workdir / 'tonypi.db'}"
    upgrade(url)
    db, store = Database(url), SqlHistoryStore(url)
    session = MqttSession("127.0.0.1", port, client_id="tonypi-ingest-demo",
                          clean_session=False, manual_ack=True)
    service = IngestService(session, store, db, IngestSettings(flush_interval_s=0.1))
    service.start()
    session.wait_connected(10)
    agents = []
    for robot_id, scenario in ROBOTS.items():
        config = load_config(env={}, overrides={
            "robot_id": robot_id, "scenario": scenario, "simulate": True,
            "mqtt_host": "127.0.0.1", "mqtt_port": port,
            "outbox_path": workdir / f"{robot_id}-outbox.db"})
        agent = build_agent(config)
        agent.start()
        agents.append(agent)
    print(f"pipeline demo: broker 127.0.0.1:{port}, data in {workdir}")
    deadline = time.monotonic() + args.seconds if args.seconds else float("inf")
    try:
        while time.monotonic() < deadline:
            time.sleep(min(REPORT_EVERY_S, max(deadline - time.monotonic(), 0)))
            report(db, store, service)
    except KeyboardInterrupt:
        pass
    finally:
        for agent in agents:
            agent.stop()
            agent.outbox.close()
        time.sleep(0.5)
        service.stop()
        report(db, store, service)
        store.close()
        db.dispose()
        broker.terminate()
        broker.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
