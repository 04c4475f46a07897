"""Real servers for tests: Mosquitto and PostgreSQL on free loopback ports."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

START_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


class Mosquitto:
    """A Mosquitto broker of our own, persistent across stop()/start() like a real one."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.config = workdir / "mosquitto.conf"
        # Ingest acknowledges after storing, so the broker must allow a whole batch in
        # flight and queue everything for a persistent session while ingest is away.
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            # Run as root, Mosquitto would switch to its own user and then be unable to
            # write its persistence file here: sessions would not survive a restart.
            f"user {getpass.getuser()}\n"
            "persistence true\n"
            f"persistence_location {workdir}/\n"
            "max_inflight_messages 1000\n"
            "max_queued_messages 1000000\n"
            "max_queued_bytes 0\n"
            "log_dest none\n"
        )

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: Mosquitto saves its persistence file
            self.proc.wait(timeout=10)
        self.proc = None


class Postgres:
    """A throwaway PostgreSQL cluster run as the postgres user (it refuses root)."""

    def __init__(self, durable: bool = False) -> None:
        # Tests trade durability for speed; a benchmark asks for a real server's fsyncs.
        self.durable = durable
        self.dir = Path(tempfile.mkdtemp(prefix="tonypi-pg-", dir="/tmp"))
        self.port = free_port()
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.initdb = shutil.which("initdb") or "/usr/lib/postgresql/15/bin/initdb"
        self.pg_ctl = shutil.which("pg_ctl") or "/usr/lib/postgresql/15/bin/pg_ctl"
        self._counter = 0

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_postgres, *args], check=True, capture_output=True)

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        data = str(self.dir / "data")
        self._run(self.initdb, "-D", data, "-U", "postgres", "-A", "trust", "--no-sync",
                  "-E", "UTF8")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(self.pg_ctl, "-D", data, "-o", options, "-l", str(self.dir / "log"),
                  "-w", "start")

    def stop(self) -> None:
        try:
            self._run(self.pg_ctl, "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        self._counter += 1
        name = f"test_{os.getpid()}_{self._counter}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
