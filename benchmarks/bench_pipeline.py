"""End-to-end throughput of robots -> Mosquitto -> tonypi-ingest -> stores, with baselines.

Prints, all measured in the same run on this machine:
  1. a bare paho subscriber (QoS 1, no parsing, no storage): the broker's ceiling here;
  2. the ingest service (a separate process, QoS 1, manual ack after storing) into SQLite
     records + SQLite history (or PostgreSQL with --pg-url);
  3. CPU and memory of real simulated agents at their default rates, per robot.

Run: .venv/bin/python benchmarks/bench_pipeline.py [--messages 20000] [--publishers 4]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.records.migrate import upgrade  # noqa: E402
from services.wire.encode import encode  # noqa: E402
from tests.support.processes import Program, start_ingest  # noqa: E402
from tests.support.servers import Mosquitto  # noqa: E402

DATA = {"cpu_percent": 12.5, "memory_percent": 40.1, "disk_percent": 55.0,
        "cpu_temperature": 51.2, "uptime_s": 1234.0}


def publish(port: int, robot_id: str, count: int, ready: mp.Event, go: mp.Event) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{robot_id}",
                         protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    messages = [encode("performance", robot_id, seq, DATA) for seq in range(1, count + 1)]
    ready.set()
    go.wait()
    info = None
    for topic, payload in messages:
        info = client.publish(topic, payload, qos=1)
    info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def run_publishers(port: int, publishers: int, per_publisher: int, prefix: str):
    go = mp.Event()
    procs, readies = [], []
    for i in range(publishers):
        ready = mp.Event()
        proc = mp.Process(target=publish, args=(port, f"{prefix}{i}", per_publisher, ready, go))
        proc.start()
        procs.append(proc)
        readies.append(ready)
    for ready in readies:
        ready.wait(60)
    return go, procs


def bench_bare_subscriber(port: int, publishers: int, per_publisher: int) -> float:
    total = publishers * per_publisher
    received = 0
    done = threading.Event()
    first: list[float] = []

    def on_message(client, userdata, msg):
        nonlocal received
        if not first:
            first.append(time.perf_counter())
        received += 1
        if received == total:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare",
                         protocol=mqtt.MQTTv311)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe("tonypi/performance/+", qos=1)
    client.loop_start()
    time.sleep(0.5)
    go, procs = run_publishers(port, publishers, per_publisher, "bare_")
    start = time.perf_counter()
    go.set()
    done.wait(300)
    elapsed = time.perf_counter() - start
    for proc in procs:
        proc.join()
    client.disconnect()
    client.loop_stop()
    return received / elapsed


def count_stored(history_path: Path) -> int:
    with sqlite3.connect(history_path, timeout=30) as db:
        return db.execute("SELECT count(*) FROM samples WHERE field = 'cpu_percent' "
                          "AND robot_id LIKE 'ingest_%'").fetchone()[0]


def bench_ingest(port: int, workdir: Path, publishers: int, per_publisher: int,
                 records_url: str | None) -> tuple[float, float, float]:
    history_path = workdir / "history.db"
    history_url = f"sqlite:///{history_path}"
    records_url = records_url or f"sqlite:///{workdir / 'records.db'}"
    upgrade(records_url)
    upgrade(history_url)
    ingest = start_ingest(port, records_url, history_url, workdir)
    ingest_ps = psutil.Process(ingest.proc.pid)
    total = publishers * per_publisher
    go, procs = run_publishers(port, publishers, per_publisher, "ingest_")
    cpu_before = sum(ingest_ps.cpu_times()[:2])
    start = time.perf_counter()
    go.set()
    while count_stored(history_path) < total:
        if time.perf_counter() - start > 600:
            raise TimeoutError(f"only {count_stored(history_path)} of {total} stored")
        time.sleep(0.1)
    elapsed = time.perf_counter() - start
    cpu = sum(ingest_ps.cpu_times()[:2]) - cpu_before
    rss_mb = ingest_ps.memory_info().rss / 2**20
    for proc in procs:
        proc.join()
    ingest.stop()
    return total / elapsed, cpu / elapsed * 100, rss_mb


def bench_agents(port: int, workdir: Path, robots: int,
                 seconds: float) -> list[tuple[float, float]]:
    agents = [Program(["-m", "robot_agent", "--simulate", "--robot-id", f"agent_{i}",
                       "--broker", f"127.0.0.1:{port}", "--outbox",
                       str(workdir / f"agent_{i}.db"), "--log-level", "WARNING"],
                      workdir / f"agent_{i}.log") for i in range(robots)]
    time.sleep(3)  # past start-up imports
    handles = [psutil.Process(a.proc.pid) for a in agents]
    before = [sum(h.cpu_times()[:2]) for h in handles]
    time.sleep(seconds)
    figures = [((sum(h.cpu_times()[:2]) - b) / seconds * 100, h.memory_info().rss / 2**20)
               for h, b in zip(handles, before, strict=True)]
    for agent in agents:
        agent.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--robots", type=int, default=3, help="real agents for CPU/memory")
    parser.add_argument("--agent-seconds", type=float, default=20.0)
    parser.add_argument("--pg-url", help="records in this PostgreSQL database instead of SQLite")
    args = parser.parse_args()
    per_publisher = args.messages // args.publishers
    print(f"TonyPi pipeline benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{psutil.cpu_count()} CPUs, {args.publishers} publisher processes x "
          f"{per_publisher} messages (QoS 1, ~{len(encode('performance', 'x', 1, DATA)[1])} B)")
    with tempfile.TemporaryDirectory(prefix="tonypi-bench-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir)
        broker.start()
        try:
            bare = bench_bare_subscriber(broker.port, args.publishers, per_publisher)
            print(f"  bare paho subscriber (baseline):     {bare:10,.0f} msg/s")
            rate, cpu, rss = bench_ingest(broker.port, workdir, args.publishers, per_publisher,
                                          args.pg_url)
            print(f"  ingest, stored and acknowledged:     {rate:10,.0f} msg/s "
                  f"({rate * len(DATA):,.0f} fields/s; {rate / bare:.0%} of baseline; "
                  f"ingest CPU {cpu:.0f}%, RSS {rss:.0f} MB)")
            figures = bench_agents(broker.port, workdir, args.robots, args.agent_seconds)
            for i, (agent_cpu, agent_rss) in enumerate(figures):
                print(f"  agent {i} (simulation, default rates): CPU {agent_cpu:5.1f}% of one "
                      f"core, RSS {agent_rss:.0f} MB")
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
