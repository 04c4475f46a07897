"""End-to-end throughput of robots -> Mosquitto -> tonypi-ingest -> stores, with baselines.

Prints, all measured in the same run on this machine:
  1. a bare paho subscriber (QoS 1, no parsing, no storage): the broker's ceiling here;
  2. the ingest service (a separate process, QoS 1, manual ack after storing) on both
     backends: SQLite records + SQLite history (the embedded default), and PostgreSQL
     records + SQL history in PostgreSQL (the lab default without InfluxDB; a durable
     server started for the run, fsync on), each with the
     end-to-end receipts on and off, so their cost is measured, not guessed;
  3. CPU and memory of real simulated agents at their default rates, per robot, with
     their receipts-awaiting outbox.

Run: .venv/bin/python benchmarks/bench_pipeline.py [--messages 20000] [--publishers 4]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.records.migrate import upgrade  # noqa: E402
from services.wire.encode import encode  # noqa: E402
from tests.support.processes import Program, start_ingest  # noqa: E402
from tests.support.servers import Mosquitto, Postgres  # noqa: E402

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


def count_stored(history_url: str) -> int:
    engine = create_engine(history_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM samples WHERE field = 'cpu_percent' "
                                     "AND robot_id LIKE 'ingest_%'")).scalar_one()
    finally:
        engine.dispose()


def bench_ingest(port: int, workdir: Path, publishers: int, per_publisher: int,
                 url: str, receipts: bool) -> tuple[float, float, float]:
    """Records and history in the same database `url` (a fresh one per run)."""
    upgrade(url)
    # The shipped batching (batch_max 500, 0.2 s), not the tests' fast flush.
    ingest = start_ingest(port, url, url, workdir, client_id="bench-ingest",
                          ingest_section=f"stats_interval_s = 3600\n"
                                         f"receipts = {str(receipts).lower()}\n")
    ingest_ps = psutil.Process(ingest.proc.pid)
    total = publishers * per_publisher
    go, procs = run_publishers(port, publishers, per_publisher, "ingest_")
    cpu_before = sum(ingest_ps.cpu_times()[:2])
    start = time.perf_counter()
    go.set()
    while (stored := count_stored(url)) < total:
        if time.perf_counter() - start > 600:
            raise TimeoutError(f"only {stored} of {total} stored")
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
    args = parser.parse_args()
    per_publisher = args.messages // args.publishers
    print(f"TonyPi pipeline benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{psutil.cpu_count()} CPUs, {args.publishers} publisher processes x "
          f"{per_publisher} messages (QoS 1, ~{len(encode('performance', 'x', 1, DATA)[1])} B)")
    with tempfile.TemporaryDirectory(prefix="tonypi-bench-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir)
        broker.start()
        postgres = Postgres(durable=True)
        postgres.start()
        try:
            bare = bench_bare_subscriber(broker.port, args.publishers, per_publisher)
            print(f"  bare paho subscriber (baseline):     {bare:10,.0f} msg/s")
            runs = 0
            for backend in ("sqlite", "postgresql"):
                # Off and on alternate, twice, best of each: a shared machine's noise
                # hits both alike instead of whichever ran second.
                best: dict[bool, tuple[float, float, float]] = {}
                for receipts in (False, True, False, True):
                    runs += 1
                    url = (f"sqlite:///{workdir / f'run{runs}.db'}" if backend == "sqlite"
                           else postgres.create_database())
                    figures = bench_ingest(broker.port, workdir, args.publishers,
                                           per_publisher, url, receipts)
                    if receipts not in best or figures[0] > best[receipts][0]:
                        best[receipts] = figures
                for receipts, (rate, cpu, rss) in sorted(best.items()):
                    label = f"ingest -> {backend}, receipts {'on ' if receipts else 'off'}:"
                    print(f"  {label:37s}{rate:10,.0f} msg/s ({rate * len(DATA):,.0f} fields/s; "
                          f"{rate / bare:.0%} of baseline; ingest CPU {cpu:.0f}%, "
                          f"RSS {rss:.0f} MB)")
                cost = 1 - best[True][0] / best[False][0]
                print(f"  {backend}: end-to-end receipts cost {cost:.1%} of throughput "
                      "(best of two runs each)")
            figures = bench_agents(broker.port, workdir, args.robots, args.agent_seconds)
            for i, (agent_cpu, agent_rss) in enumerate(figures):
                print(f"  agent {i} (simulation, default rates): CPU {agent_cpu:5.1f}% of one "
                      f"core, RSS {agent_rss:.0f} MB")
        finally:
            broker.stop()
            postgres.stop()


if __name__ == "__main__":
    main()
