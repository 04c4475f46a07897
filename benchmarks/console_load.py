"""The load of the console benchmark, in processes of its own: simulated robots publishing
through Mosquitto, and the bare paho subscriber that is its baseline (see
bench_console.py)."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import sys
import threading
import time
import uuid
from array import array
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.wire.encode import encode  # noqa: E402

STATUS_EVERY_S = 5.0


# -- load generator (separate processes) -------------------------------------------------

def _robot_messages(robot_id: str, seq: int, t: float, servos: int, phase: float):
    """The messages of one robot's tick at `t` (epoch s, also their timestamp)."""
    ts = datetime.fromtimestamp(t, UTC)
    wave = math.sin(2 * math.pi * 0.5 * t + phase)
    servo_list = [{"id": i + 1, "position": 500 + 300 * math.sin(2 * math.pi * 0.8 * t + i),
                   "temperature": 40 + 5 * wave + i * 0.5, "voltage": 7.4 + 0.1 * wave,
                   "load": 30 + 20 * math.sin(t + i)} for i in range(servos)]
    yield encode("servos", robot_id, seq, ts=ts, data={"servos": servo_list})
    yield encode("performance", robot_id, seq, ts=ts, data={
        "cpu_percent": 40 + 20 * wave, "memory_percent": 35.0 + wave,
        "disk_percent": 55.0, "cpu_temperature": 55 + 5 * wave, "uptime_s": t})
    yield encode("battery", robot_id, seq, ts=ts, data={"percentage": 80 + 10 * wave,
                                            "voltage": 11.4 + 0.3 * wave,
                                            "current": 1.5 + wave, "charging": False})
    yield encode("imu", robot_id, seq, ts=ts, data={
        **{f"accel_{a}": 0.3 * math.sin(7 * t + k) for k, a in enumerate("xyz")},
        **{f"gyro_{a}": 5 * math.cos(5 * t + k) for k, a in enumerate("xyz")},
        **{f"mag_{a}": 20 + k for k, a in enumerate("xyz")}})


def generate(port: int, robot_ids: list[str], indices: list[int], total_robots: int,
             rate_hz: float, servos: int, seconds: float, ready, go, published, lag_ms) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"bench-gen-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv311)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    period = 1.0 / rate_hz
    # Robot i publishes at offset i/N of the period: real robots are not synchronised.
    offsets = [index / total_robots * period for index in indices]
    events = sorted((offset, k) for k, offset in enumerate(offsets))
    ready.set()
    go.wait()
    start = time.monotonic()
    seq, count, worst_lag, next_status = 0, 0, 0.0, 0.0
    while True:
        tick_start = start + seq * period
        if tick_start - start >= seconds:
            break
        for offset, k in events:
            due = tick_start + offset
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                worst_lag = max(worst_lag, -delay)
            now = time.time()
            for topic, payload in _robot_messages(robot_ids[k], seq + 1, now, servos, k):
                client.publish(topic, payload, qos=0)
                count += 1
            if tick_start - start >= next_status:
                client.publish(*encode("status", robot_ids[k], None, {"status": "online"}), qos=0)
                count += 1
        if tick_start - start >= next_status:
            next_status += STATUS_EVERY_S
        seq += 1
        with published.get_lock():
            published.value += count
        count = 0
        with lag_ms.get_lock():
            lag_ms.value = max(lag_ms.value, worst_lag * 1000)
    client.disconnect()
    client.loop_stop()


class Load:
    """The generator processes for one phase: start, wait until connected, go, join."""

    def __init__(self, port: int, args, seconds: float) -> None:
        ctx = mp.get_context("spawn")  # never fork a process that has a QApplication
        self.go = ctx.Event()
        self.published = ctx.Value("q", 0)
        self.lag_ms = ctx.Value("d", 0.0)
        ids = [f"bench_{i:02d}" for i in range(args.robots)]
        self.procs, readies = [], []
        for first in range(min(args.publishers, args.robots)):
            indices = list(range(first, args.robots, args.publishers))
            ready = ctx.Event()
            proc = ctx.Process(target=generate, daemon=True, args=(
                port, [ids[i] for i in indices], indices, args.robots, args.rate_hz,
                args.servos, seconds, ready, self.go, self.published, self.lag_ms))
            proc.start()
            self.procs.append(proc)
            readies.append(ready)
        for ready in readies:
            if not ready.wait(60):
                raise TimeoutError("a load generator did not connect")

    def start(self) -> None:
        self.go.set()

    def join(self) -> None:
        for proc in self.procs:
            proc.join(30)


# -- baseline: a bare paho subscriber ------------------------------------------------------

def bare_subscriber(port: int, seconds: float, warmup_s: float, result) -> None:
    received = 0
    latencies = array("d")
    window: list[float] = []
    lock = threading.Lock()

    def on_message(client, userdata, msg):
        nonlocal received
        now = time.time()
        if not window or now < window[0]:
            return
        ts = json.loads(msg.payload)["ts"]  # same clock as the publishers: one machine
        with lock:
            received += 1
            latencies.append(now - datetime.fromisoformat(ts).timestamp())

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare",
                         protocol=mqtt.MQTTv311)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe("tonypi/#", qos=0)
    client.loop_start()
    result.put("ready")
    time.sleep(warmup_s)
    window.append(time.time())
    time.sleep(seconds)
    with lock:
        elapsed = time.time() - window[0]
        lat = np.array(latencies)
        result.put((received / elapsed, float(np.median(lat)), float(np.percentile(lat, 95))))
    client.loop_stop()


def run_baseline(port: int, args) -> None:
    ctx = mp.get_context("spawn")
    result = ctx.Queue()
    seconds = args.baseline_seconds
    sub = ctx.Process(target=bare_subscriber, args=(port, seconds, 3.0, result))
    sub.start()
    result.get(timeout=60)
    load = Load(port, args, seconds + 4.0)
    load.start()
    rate, median, p95 = result.get(timeout=seconds + 60)
    load.join()
    sub.join(10)
    print(f"  bare paho subscriber (same load, {seconds:.0f} s): {rate:8,.0f} msg/s received; "
          f"latency ts->arrival median {median * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms "
          f"(generators' worst lag behind schedule {load.lag_ms.value:.1f} ms)")
