"""Everything `tonypi-console --demo` needs, in-process: broker, stores, ingest, robots.

The pieces are the production ones, wired the way `tonypi-ingest` and `tonypi-agent`
wire them; only the endpoints differ (a loopback port picked by the OS, SQLite files in
a working directory).  The console then connects to `mqtt_host:mqtt_port`,
`records_url` and `history_url` exactly as it would to a lab server.

Pure Python (no Qt): it lives in app/ because it wires services/ and robot_agent/.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from sqlalchemy.exc import SQLAlchemyError

from robot_agent.agent import Agent, build_agent
from robot_agent.config import SCENARIOS, load_config
from services.alerts.engine import AlertEngine
from services.alerts.service import database_thresholds
from services.embedded_broker import EmbeddedBroker
from services.history.sql_store import SqlHistoryStore
from services.ingest.service import IngestService
from services.mqtt_session import MqttSession
from services.records.db import Database
from services.records.errors import RecordsUnavailable
from services.records.migrate import upgrade
from services.records.repositories import RobotRepository
from services.settings import IngestSettings

logger = logging.getLogger(__name__)

DEFAULT_ROBOTS: Mapping[str, str] = MappingProxyType({
    "tonypi_demo_01": "overheating",
    "tonypi_demo_02": "draining",
    "tonypi_demo_03": "job",
    "tonypi_demo_04": "normal",
})
# Simulated seconds per second.  At 5x the overheating servo passes the 60 C warning
# after ~15 s and 75 C after ~30 s, the draining pack reaches 20 % in ~35 s, and a job
# item takes about a second: trends an operator sees within the first minute.
DEMO_SIM_SPEED = 5.0
INGEST_CLIENT_ID = "tonypi-ingest-demo"
MQTT_HOST = "127.0.0.1"
CONNECT_TIMEOUT_S = 10.0
AGENT_DRAIN_S = 2.0  # a graceful agent stop: long enough for the broker to take "offline"
AGENT_STOP_MARGIN_S = 5.0  # beyond the drain: the sampler join and the disconnect
INGEST_SETTLE_S = 2.0  # after the robots stop, time for ingest to record them offline
SETTLE_POLL_S = 0.02


def demo_robots(count: int) -> dict[str, str]:
    """`count` robots: the default four first, then more cycling through the scenarios."""
    if count < 1:
        raise ValueError("a demo needs at least one robot")
    robots = dict(list(DEFAULT_ROBOTS.items())[:count])
    cycle = [DEFAULT_ROBOTS[name] for name in DEFAULT_ROBOTS]
    for number in range(len(robots) + 1, count + 1):
        robots[f"tonypi_demo_{number:02d}"] = cycle[(number - 1) % len(cycle)]
    return robots


class DemoStackError(RuntimeError):
    """A part of the demo stack did not come up."""


class DemoStack:
    def __init__(self, workdir: Path | None = None, robots: Mapping[str, str] | None = None,
                 *, sim_speed: float = DEMO_SIM_SPEED,
                 ingest_settings: IngestSettings | None = None) -> None:
        self.robots = dict(DEFAULT_ROBOTS if robots is None else robots)
        unknown = {name: s for name, s in self.robots.items() if s not in SCENARIOS}
        if unknown:
            raise ValueError(f"unknown scenario(s) {unknown}; choose from {SCENARIOS}")
        self.sim_speed = sim_speed
        self._requested_workdir = workdir
        self._ingest_settings = ingest_settings or IngestSettings()
        self._lock = threading.Lock()
        self._owns_workdir = False
        self.workdir: Path | None = None
        self.broker: EmbeddedBroker | None = None
        self.database: Database | None = None
        self.history: SqlHistoryStore | None = None
        self.ingest: IngestService | None = None
        self.agents: dict[str, Agent] = {}
        self.startup_s: float | None = None  # wall time start() took, for the log and tests

    # -- endpoints (what the console connects to) --------------------------------------
    @property
    def mqtt_host(self) -> str:
        return MQTT_HOST

    @property
    def mqtt_port(self) -> int:
        if self.broker is None:
            raise DemoStackError("the demo stack is not running")
        return self.broker.port

    @property
    def records_url(self) -> str:
        if self.workdir is None:
            raise DemoStackError("the demo stack is not running")
        return f"sqlite:///{self.workdir / 'records.db'}"

    @property
    def history_url(self) -> str:
        # One SQLite file, as on a lab server whose history backend is its records database.
        return self.records_url

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        """Bring everything up; return once ingest and every robot are connected."""
        with self._lock:
            if self.broker is not None:
                raise DemoStackError("the demo stack is already running")
            began = time.monotonic()
            try:
                self._start_parts(timeout_s)
            except BaseException:
                self._stop_parts(timeout_s)
                raise
            self.startup_s = time.monotonic() - began
        logger.info("demo stack up in %.2f s: broker %s:%d, %d robot(s), data in %s",
                    self.startup_s, self.mqtt_host, self.mqtt_port, len(self.agents),
                    self.workdir)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Robots (gracefully: they announce "offline"), ingest, broker, stores; then the
        temporary directory.  Idempotent."""
        with self._lock:
            self._stop_parts(timeout_s)

    def __enter__(self) -> DemoStack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------
    def _start_parts(self, timeout_s: float) -> None:
        if self._requested_workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="tonypi-demo-"))
            self._owns_workdir = True
        else:
            self.workdir = Path(self._requested_workdir)
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._owns_workdir = False

        self.broker = EmbeddedBroker(MQTT_HOST, 0)
        self.broker.start(timeout_s)

        upgrade(self.records_url)
        self.database = Database(self.records_url)
        self.history = SqlHistoryStore(self.history_url)
        session = MqttSession(MQTT_HOST, self.broker.port, client_id=INGEST_CLIENT_ID,
                              clean_session=False, manual_ack=True)
        self.ingest = IngestService(session, self.history, self.database,
                                    self._ingest_settings,
                                    alerts=AlertEngine(database_thresholds(self.database)))
        self.ingest.start()
        # Subscribed before any robot speaks, so the records see every robot's birth.
        if not session.wait_connected(timeout_s):
            raise DemoStackError(f"demo ingest did not connect within {timeout_s} s")

        for robot_id, scenario in self.robots.items():
            config = load_config(env={}, overrides={
                "robot_id": robot_id, "scenario": scenario, "simulate": True,
                "sim_speed": self.sim_speed, "mqtt_host": MQTT_HOST,
                "mqtt_port": self.broker.port,
                "outbox_path": self.workdir / "agents" / f"{robot_id}.outbox.db",
            })
            agent = build_agent(config)
            self.agents[robot_id] = agent
            agent.start()
        deadline = time.monotonic() + timeout_s
        for robot_id, agent in self.agents.items():
            if not agent.publisher.wait_connected(max(0.0, deadline - time.monotonic())):
                raise DemoStackError(f"demo robot {robot_id} did not connect within "
                                     f"{timeout_s} s")

    def _stop_parts(self, timeout_s: float) -> None:
        # Robots first, while the ingest still runs: each says goodbye (a clean offline,
        # which raises no alert) and the ingest must store it before it stops.
        stopped = list(self.agents)
        self._stop_agents(min(AGENT_DRAIN_S, timeout_s))
        if self.ingest is not None:
            if stopped and self.database is not None:
                self._wait_robots_recorded_offline(stopped, min(INGEST_SETTLE_S, timeout_s))
            self.ingest.stop(timeout_s)
            self.ingest = None
        if self.broker is not None:
            self.broker.stop(timeout_s)
            self.broker = None
        if self.history is not None:
            self.history.close()
            self.history = None
        if self.database is not None:
            self.database.dispose()
            self.database = None
        if self.workdir is not None and self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None

    def _stop_agents(self, drain_timeout_s: float) -> None:
        """All robots at once: each may wait drain_timeout_s for its receipts, and the
        window should close in one such wait, not one per robot."""
        def stop(robot_id: str, agent: Agent) -> None:
            try:
                agent.stop(drain_timeout_s=drain_timeout_s)
            except Exception:  # one robot failing to stop must not strand the rest
                logger.exception("demo robot %s did not stop cleanly", robot_id)
            finally:
                agent.outbox.close()

        threads = [threading.Thread(target=stop, args=item, name=f"stop-{item[0]}")
                   for item in self.agents.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(drain_timeout_s + AGENT_STOP_MARGIN_S)
            if thread.is_alive():
                logger.warning("demo robot stop %s still running", thread.name)
        self.agents.clear()

    def _wait_robots_recorded_offline(self, robot_ids: list[str], timeout_s: float) -> None:
        """Let ingest store what the stopped robots said last (their goodbye, a clean
        "offline"), so a kept workdir does not show them online at the next start and
        the goodbye ends any open network alert rather than being lost with the ingest."""
        assert self.database is not None
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with self.database.session() as session:
                    robots = RobotRepository(session)
                    still_online = [robot_id for robot_id in robot_ids
                                    if (robot := robots.get(robot_id)) is not None
                                    and robot.status != "offline"]
            except (RecordsUnavailable, SQLAlchemyError) as exc:
                logger.warning("cannot check the demo robots' final status: %s", exc)
                return
            if not still_online:
                return
            if time.monotonic() >= deadline:
                logger.warning("demo robot(s) %s not yet recorded offline after %.1f s",
                               ", ".join(still_online), timeout_s)
                return
            time.sleep(SETTLE_POLL_S)
