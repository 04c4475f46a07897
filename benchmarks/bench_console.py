"""The console under fleet load: the real MainWindow fed by simulated robots via Mosquitto.

Load: separate processes publish the project's own format (QoS 0, ts = now UTC) for
`--robots` robots at `--rate-hz`: per robot and tick a `servos` message (`--servos`
servos x position, temperature, voltage, load), a `performance`, a `battery` and an `imu`
message, and a status every 5 s. Robots are spread evenly over the tick, like real ones.

Prints, all measured in the same run on this machine:
  1. baseline: a bare paho subscriber process receiving the same load (rate, latency
     from the sample's timestamp to its arrival);
  2. baseline: the idle console window (connected, pages open, no data): frame interval;
  3. the console under load, after a warm-up: messages/s and samples/s applied, GUI
     frame interval (tick to tick, which includes painting) and time spent in each tick
     and each paint, end-to-end latency from a sample's timestamp to the end of the
     paint that showed it, GUI-thread CPU per frame, CPU per thread, Python GC pauses,
     and resident memory (and the frame interval) every 30 s, with the memory's slope
     both raw and without the ring buffers, which grow by design up to the window.

The window is the operator's layout: the fleet tab, a live page per robot for two
robots, and the current tab a page with both robots overlaid (the heaviest to draw).

Run: xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/bench_console.py
     [--seconds 180] [--robots 20] [--rate-hz 10] [--servos 16]
     [--profile gui.prof] (cProfile of the GUI thread) [--screenshot end.png]
Without DISPLAY it runs offscreen (says so); offscreen paints into memory only.
Other work on the machine skews every figure: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import math
import os
import sys
import tempfile
import threading
import time
import uuid
from array import array
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console_load import Load, run_baseline  # noqa: E402 - next to this script

from tests.support.servers import Mosquitto  # noqa: E402

MEMORY_EVERY_S = 30.0
WARMUP_S = 10.0  # JIT-free Python still has caches to fill, buffers to grow, curves to add
LATENCY_BIN_S = 0.001
LATENCY_BINS = 60_000  # a fixed histogram: collecting figures must not grow the RSS we watch


# -- the console ---------------------------------------------------------------------------

def percentile_ms(values, q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) * 1000 if len(values) else float("nan")


def histogram_percentile_ms(hist: np.ndarray, q: float) -> float:
    total = int(hist.sum())
    if not total:
        return float("nan")
    index = int(np.searchsorted(np.cumsum(hist), math.ceil(total * q / 100)))
    return (index + 0.5) * LATENCY_BIN_S * 1000


def build_probe_class():
    from PySide6.QtCore import QEvent, QObject

    class FrameProbe(QObject):
        """Watches the window: tick starts and durations (frame_applied), paint times
        (the top-level UpdateRequest, in which Qt paints every dirty widget), and the
        latency of the samples each tick put on the current page, at the end of the
        paint that showed them."""

        def __init__(self, window) -> None:
            super().__init__()
            self.window = window
            self.recording = False
            self.reset()
            window.frame_applied.connect(self._on_frame_applied)
            window.installEventFilter(self)

        def reset(self) -> None:
            self.intervals, self.ticks, self.paints = array("d"), array("d"), array("d")
            self.frame_cpu = array("d")  # GUI-thread CPU from one tick's end to the next
            self.paint_cpu = 0.0
            self._last_cpu: float | None = None
            self.latency_hist = np.zeros(LATENCY_BINS, dtype=np.int64)
            self.best_hist = np.zeros(LATENCY_BINS, dtype=np.int64)
            self._last_start: float | None = None
            self._pending: list[np.ndarray] = []
            self._shown: set | None = None

        def _on_frame_applied(self, seconds: float) -> None:
            start = time.perf_counter() - seconds
            cpu = time.thread_time()
            if self.recording:
                if self._last_start is not None:
                    self.intervals.append(start - self._last_start)
                    self.frame_cpu.append(cpu - self._last_cpu)
                self.ticks.append(seconds)
            self._last_start, self._last_cpu = start, cpu
            page = self.window.tabs.currentWidget()
            if not self.recording or not hasattr(page, "keys_needed"):
                return
            # The keys of the plots on screen (asked once a second: the probe must stay
            # cheap); plots scrolled out of sight are not drawn, so not timed.
            if self._shown is None or len(self.ticks) % 25 == 0:
                self._shown = [key for plot in page.plots for key in plot.keys()
                               if not plot.plot_widget.viewport().visibleRegion().isEmpty()]
            drawn = list(self.window.fleet.latency_samples(self._shown).values())
            if drawn:
                self._pending.append(np.array(drawn))

        def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
            if watched is self.window and event.type() == QEvent.Type.UpdateRequest:
                started, cpu = time.perf_counter(), time.thread_time()
                watched.event(event)  # paint now, to time it and stamp the latency after
                if self.recording:
                    self.paints.append(time.perf_counter() - started)
                    self.paint_cpu += time.thread_time() - cpu
                    self._stamp(time.time())
                return True
            return False

        def _stamp(self, drawn_at: float) -> None:
            if not self._pending:
                return
            spans = np.concatenate(self._pending)
            self._pending.clear()
            for column, hist in ((0, self.latency_hist), (1, self.best_hist)):
                bins = ((drawn_at - spans[:, column]) / LATENCY_BIN_S).astype(np.int64)
                np.add.at(hist, np.clip(bins, 0, LATENCY_BINS - 1), 1)

    return FrameProbe


def run_for(app, seconds: float) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


class GcPauses:
    """Collections of Python's cyclic GC while measuring: they stop every thread."""

    def __init__(self) -> None:
        self.pauses = [array("d") for _ in range(3)]
        self._started = 0.0
        self.recording = False
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self.recording:
            self.pauses[info["generation"]].append(time.perf_counter() - self._started)

    def summary(self, seconds: float) -> str:
        return "; ".join(f"gen{g} {len(p) / seconds:.1f}/s, max {max(p, default=0) * 1000:.1f} ms"
                         for g, p in enumerate(self.pauses))


def gui_thread_cpu(process: psutil.Process) -> float:
    """CPU seconds of the GUI (main) thread; the rest of the process is paho's thread."""
    main_id = threading.main_thread().native_id
    return next((t.user_time + t.system_time for t in process.threads() if t.id == main_id),
                float("nan"))


def buffer_bytes(fleet) -> int:
    # The fleet keeps its ring buffers private; a benchmark may look, never touch.
    with fleet._lock:
        return sum(s.buffer.capacity * 16 for s in fleet._signals.values())


def run_console(port: int, args, workdir: Path) -> None:
    if not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.theme import apply_theme
    from services.live.feed import LiveFeed
    from services.live.fleet import FleetState
    from services.mqtt_session import MqttSession

    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app)
    # Built as app.main.main() builds it; settings in a scratch file, not the user's.
    session = MqttSession("127.0.0.1", port, client_id=f"tonypi-console-{uuid.uuid4().hex[:8]}")
    fleet = FleetState()
    feed = LiveFeed(session, fleet)
    settings = QSettings(str(workdir / "console.ini"), QSettings.Format.IniFormat)
    window = MainWindow(fleet, feed, title_suffix="benchmark", settings=settings)
    feed.start()
    session.start()
    window.show()
    if not session.wait_connected(15):
        raise TimeoutError("the console did not connect")
    first, second = "bench_00", "bench_01"
    window.open_live_page([first])
    window.open_live_page([second])
    window.open_live_page([first, second])  # overlaid: the heaviest page, current
    probe = build_probe_class()(window)
    me = psutil.Process()
    display = f" (Xvfb, DISPLAY={os.environ['DISPLAY']})" if app.platformName() == "xcb" else ""
    print(f"  Qt platform: {app.platformName()}{display}"
          f"; window {window.width()}x{window.height()}; tabs: "
          + ", ".join(window.tabs.tabText(i) for i in range(window.tabs.count()))
          + f"; current: {window.tabs.tabText(window.tabs.currentIndex())}")

    gc_pauses = GcPauses()
    load = Load(port, args, WARMUP_S + args.seconds + 2.0)  # connected, waiting for go
    run_for(app, 2.0)
    probe.recording = True
    run_for(app, args.idle_seconds)
    probe.recording = False
    print(f"  idle window (baseline, {args.idle_seconds:.0f} s): frame interval median "
          f"{percentile_ms(probe.intervals, 50):.1f} ms, "
          f"p99 {percentile_ms(probe.intervals, 99):.1f} ms; "
          f"tick median {percentile_ms(probe.ticks, 50):.2f} ms")
    probe.reset()

    memory: list[tuple[float, float, float]] = []  # (s since load start, RSS MB, buffers MB)
    load_started = time.monotonic()

    seen = [0]  # frames already summarised

    def sample_memory() -> None:
        elapsed = time.monotonic() - load_started
        rss, buffers = me.memory_info().rss / 2**20, buffer_bytes(fleet) / 2**20
        memory.append((elapsed, rss, buffers))
        recent = probe.intervals[seen[0]:]
        seen[0] = len(probe.intervals)
        frames = (f"  frames since last: interval median {percentile_ms(recent, 50):5.1f} ms, "
                  f"p99 {percentile_ms(recent, 99):5.1f} ms" if len(recent) else "")
        print(f"    t={elapsed:5.0f} s  RSS {rss:7.1f} MB  ring buffers {buffers:6.1f} MB  "
              f"RSS - buffers {rss - buffers:7.1f} MB{frames}", flush=True)

    memory_timer = QTimer()
    memory_timer.timeout.connect(sample_memory)
    print(f"  under load ({args.robots} robots x {args.rate_hz:g} Hz x {args.servos} servos; "
          f"warm-up {WARMUP_S:.0f} s, then {args.seconds:.0f} s measured):")
    load.start()
    sample_memory()
    memory_timer.start(int(MEMORY_EVERY_S * 1000))
    run_for(app, WARMUP_S)
    before = feed.stats()
    cpu_before, published_before = sum(me.cpu_times()[:2]), load.published.value
    gui_before = gui_thread_cpu(me)
    threads_before = {t.id: t.user_time + t.system_time for t in me.threads()}
    measured_from = time.monotonic()
    probe.recording = gc_pauses.recording = True
    profiler = cProfile.Profile() if args.profile else None
    if profiler:  # the GUI thread only: ticks, paints, Qt's event handling
        profiler.enable()
    run_for(app, args.seconds)
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    probe.recording = gc_pauses.recording = False
    elapsed = time.monotonic() - measured_from
    names = {t.native_id: t.name for t in threading.enumerate()}
    per_thread = {names.get(t.id, f"thread {t.id} (not Python)"):
                  (t.user_time + t.system_time - threads_before.get(t.id, 0.0)) / elapsed * 100
                  for t in me.threads()}
    after = feed.stats()
    cpu = (sum(me.cpu_times()[:2]) - cpu_before) / elapsed * 100
    gui_cpu = (gui_thread_cpu(me) - gui_before) / elapsed * 100
    published = load.published.value - published_before
    sample_memory()
    memory_timer.stop()
    if args.screenshot:
        window.grab().save(str(args.screenshot))
    load.join()
    window.close()
    feed.stop()
    session.stop()
    report(args, probe, memory, before, after, elapsed, published, (cpu, gui_cpu),
           load.lag_ms.value)
    print("  CPU per thread: " + ", ".join(f"{name} {used:.0f}%" for name, used in
                                           sorted(per_thread.items(), key=lambda i: -i[1])
                                           if used >= 0.5))
    print(f"  Python GC pauses (any thread, all threads wait): {gc_pauses.summary(elapsed)}")


def report(args, probe, memory, before, after, elapsed, published, cpu, lag_ms) -> None:
    messages = after.messages_total - before.messages_total
    print(f"  applied: {messages / elapsed:8,.0f} messages/s ({published / elapsed:,.0f}/s "
          f"published in the same interval; generators' worst lag {lag_ms:.1f} ms)")
    print(f"           {(after.values_total - before.values_total) / elapsed:8,.0f} samples/s "
          "(one value of one signal into its ring buffer; target > 8,000)")
    print(f"           {(after.samples_total - before.samples_total) / elapsed:8,.0f} "
          "wire Sample records/s (one per measurement or servo per message); "
          f"rejected {after.rejected_total - before.rejected_total}")
    print(f"  frame interval (tick to tick, {len(probe.intervals)} frames): median "
          f"{percentile_ms(probe.intervals, 50):.1f} ms, p99 "
          f"{percentile_ms(probe.intervals, 99):.1f} ms, max "
          f"{percentile_ms(probe.intervals, 100):.1f} ms (target p99 < 50 ms)")
    print(f"  time in each tick: median {percentile_ms(probe.ticks, 50):.1f} ms, p99 "
          f"{percentile_ms(probe.ticks, 99):.1f} ms; in each paint: median "
          f"{percentile_ms(probe.paints, 50):.1f} ms, p99 {percentile_ms(probe.paints, 99):.1f} "
          f"ms ({len(probe.paints)} paints)")
    frames = max(len(probe.frame_cpu), 1)
    print(f"  GUI-thread CPU per frame: median {percentile_ms(probe.frame_cpu, 50):.1f} ms, "
          f"mean {sum(probe.frame_cpu) / frames * 1000:.1f} ms, of which painting "
          f"{probe.paint_cpu / frames * 1000:.1f} ms (wall time beyond CPU: waiting for the GIL)")
    print(f"  latency sample ts -> painted (worst sample of each curve per frame, "
          f"{int(probe.latency_hist.sum()):,} curve updates): median "
          f"{histogram_percentile_ms(probe.latency_hist, 50):.0f} ms, p95 "
          f"{histogram_percentile_ms(probe.latency_hist, 95):.0f} ms, p99 "
          f"{histogram_percentile_ms(probe.latency_hist, 99):.0f} ms (target p95 < 150 ms); "
          f"freshest sample: median {histogram_percentile_ms(probe.best_hist, 50):.0f} ms")
    print(f"  console CPU {cpu[0]:.0f}% of one core: GUI thread {cpu[1]:.0f}%, "
          f"other threads (paho: receive, parse, apply) {cpu[0] - cpu[1]:.0f}%")
    times = np.array([m[0] for m in memory])
    for column, name in ((1, "RSS"), (3, "RSS - ring buffers")):
        values = np.array([m[1] - (m[2] if column == 3 else 0) for m in memory])
        late = times >= min(60.0, times[-1] / 2)  # past start-up allocations
        slope = (np.polyfit(times[late], values[late], 1)[0] * 60 if late.sum() >= 2
                 else float("nan"))
        print(f"  {name}: {values[0]:.1f} MB at load start, {values[-1]:.1f} MB after "
              f"{times[-1]:.0f} s; slope from t>={times[late][0]:.0f} s {slope:+.2f} MB/min")
    print("  (ring buffers are bounded by the fleet's window: full, they will hold "
          f"{full_buffers_mb(args):.0f} MB; growing towards that is by design, not a leak)")


def full_buffers_mb(args) -> float:
    """What the ring buffers of this load hold once the fleet's window is full."""
    from services.live.fleet import FleetState
    from services.live.model import INITIAL_CAPACITY

    fleet = FleetState()
    points = min(fleet.max_points_per_signal, int(fleet.window_s * args.rate_hz) + 1)
    capacity = INITIAL_CAPACITY
    while capacity < points:  # grows by doubling, capped at max_points_per_signal
        capacity = min(capacity * 2, fleet.max_points_per_signal)
    signals = args.robots * (args.servos * 4 + 5 + 4 + 9)
    return signals * capacity * 16 / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=180.0, help="measured time under load")
    parser.add_argument("--robots", type=int, default=20)
    parser.add_argument("--rate-hz", type=float, default=10.0)
    parser.add_argument("--servos", type=int, default=16)
    parser.add_argument("--publishers", type=int, default=2, help="load generator processes")
    parser.add_argument("--baseline-seconds", type=float, default=15.0)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--screenshot", type=Path, metavar="PNG",
                        help="save the window as it looks at the end of the load")
    parser.add_argument("--profile", metavar="FILE",
                        help="cProfile the GUI thread while measuring; pstats dump to FILE")
    args = parser.parse_args()
    args.robots = max(args.robots, 2)  # the layout shows two robots
    per_tick = args.robots * (args.servos * 4 + 5 + 4 + 9)
    print(f"TonyPi console benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{psutil.cpu_count()} CPUs (load average {os.getloadavg()[0]:.2f} before start); "
          f"load {args.robots} robots x {args.rate_hz:g} Hz: "
          f"{args.robots * args.rate_hz * 4:,.0f} msg/s + status, {per_tick * args.rate_hz:,.0f} "
          f"samples/s, QoS 0, {args.publishers} generator processes")
    with tempfile.TemporaryDirectory(prefix="tonypi-bench-console-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir)
        broker.start()
        try:
            run_baseline(broker.port, args)
            run_console(broker.port, args, workdir)
        finally:
            broker.stop()
    # Other work on the machine competes for its two cores and skews every figure above.
    print(f"  machine load average at the end (1 min): {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
