"""Alerts raised by a metric flapping around its threshold for a simulated hour.

    python benchmarks/bench_alert_flapping.py                  # 1 h at 1 Hz, seed 4
    python benchmarks/bench_alert_flapping.py --hours 8 --rate-hz 5 --seed 7

Each scenario is one servo temperature (warning 60 C, critical 75 C, hysteresis 3 C) or
one battery level (warning 20 %, critical 10 %, low is bad) fed sample by sample, in
sample time, to the AlertEngine with its default settings (hold 10 s, clear 10 s), and,
in the same run, to a naive baseline that opens an alert on every crossing into a
worse level (warning or critical).  The engine's count is checked against the most a
scenario may raise (one per genuine hot episode); the exit code is 1 if any raises more.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from services.alerts import AlertEngine, RuleSettings
from services.records.repositories import Threshold

START = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
THRESHOLDS = {"servo_temp": Threshold(60.0, 75.0, True, False),
              "battery": Threshold(20.0, 10.0, True, True)}


@dataclass(frozen=True)
class Scenario:
    name: str
    metric_type: str
    source: str
    signal: Callable[[np.ndarray, np.random.Generator], np.ndarray]  # t_s -> values
    max_raised: Callable[[float], int]  # allowed raises for a run of `hours`


def _square(t: np.ndarray, period_s: float, high: float, low: float) -> np.ndarray:
    return np.where((t % period_s) < period_s / 2, high, low)


SCENARIOS = (
    Scenario("sine 60+-1.5 C, 6 s period, noise 0.5", "servo_temp", "servo_1",
             lambda t, rng: 60 + 1.5 * np.sin(2 * np.pi * t / 6) + rng.normal(0, 0.5, t.size),
             lambda hours: 1),
    Scenario("sine 62+-1.5 C, 6 s period, noise 0.5", "servo_temp", "servo_2",
             lambda t, rng: 62 + 1.5 * np.sin(2 * np.pi * t / 6) + rng.normal(0, 0.5, t.size),
             lambda hours: 1),
    Scenario("square 61/59 C, flips every 1 s", "servo_temp", "servo_3",
             lambda t, rng: _square(t, 2, 61, 59), lambda hours: 1),
    Scenario("square 62/58 C, flips every 20 s", "servo_temp", "servo_4",
             lambda t, rng: _square(t, 40, 62, 58), lambda hours: 1),
    Scenario("square 76/74 C (critical edge), 3 s", "servo_temp", "servo_5",
             lambda t, rng: _square(t, 6, 76, 74) + rng.normal(0, 0.3, t.size),
             lambda hours: 1),
    Scenario("battery 20+-1 %, noise 0.7", "battery", "battery",
             lambda t, rng: 20 + np.sin(2 * np.pi * t / 8) + rng.normal(0, 0.7, t.size),
             lambda hours: 1),
    # Genuine episodes: hot for ~4 min in every 10 min, noisy at each crossing.  One
    # alert per episode is right; the baseline also fires on the noise at each edge.
    Scenario("slow sine 60+-5 C, 10 min, noise 0.8", "servo_temp", "servo_6",
             lambda t, rng: 60 + 5 * np.sin(2 * np.pi * t / 600) + rng.normal(0, 0.8, t.size),
             lambda hours: math.ceil(hours * 6)),
)


def naive_raises(values: np.ndarray, threshold: Threshold) -> int:
    """Alerts of a rule that fires on every crossing into a worse level (none ->
    warning, warning -> critical, none -> critical), with no hold and no hysteresis."""
    sign = -1.0 if threshold.low_is_bad else 1.0
    levels = ((sign * values >= sign * threshold.warning).astype(np.int8)
              + (sign * values >= sign * threshold.critical).astype(np.int8))
    return int(levels[0] > 0) + int(np.count_nonzero(levels[1:] > levels[:-1]))


def run(scenario: Scenario, hours: float, rate_hz: float,
        rng: np.random.Generator) -> tuple[int, int, dict[str, int], float]:
    t = np.arange(0, hours * 3600, 1 / rate_hz)
    values = scenario.signal(t, rng)
    engine = AlertEngine(lambda robot_id: THRESHOLDS, RuleSettings())
    counts = {"raised": 0, "escalated": 0, "resolved": 0}
    times = [START + timedelta(seconds=float(s)) for s in t]
    began = time.perf_counter()
    for when, value in zip(times, values.tolist(), strict=True):
        for change in engine.observe("bench_robot", scenario.metric_type, scenario.source,
                                     value, when):
            counts[change.kind] += 1
    elapsed = time.perf_counter() - began
    return t.size, naive_raises(values, THRESHOLDS[scenario.metric_type]), counts, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--rate-hz", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    settings = RuleSettings()
    print(f"alert flapping benchmark: {args.hours:g} h simulated at {args.rate_hz:g} Hz, "
          f"hold {settings.raise_after_s:g} s, clear {settings.clear_after_s:g} s, "
          f"seed {args.seed}")
    print(f"{'scenario':<40}{'samples':>9}{'naive':>8}{'raised':>8}{'escal.':>8}"
          f"{'resolv.':>8}{'max ok':>8}{'us/sample':>11}")
    failed = False
    total_samples = total_elapsed = 0.0
    for scenario in SCENARIOS:
        samples, naive, counts, elapsed = run(scenario, args.hours, args.rate_hz, rng)
        allowed = scenario.max_raised(args.hours)
        ok = counts["raised"] <= allowed
        failed |= not ok
        total_samples += samples
        total_elapsed += elapsed
        print(f"{scenario.name:<40}{samples:>9,}{naive:>8,}{counts['raised']:>8}"
              f"{counts['escalated']:>8}{counts['resolved']:>8}{allowed:>8}"
              f"{1e6 * elapsed / samples:>11.1f}{'' if ok else '  TOO MANY'}")
    print(f"engine throughput: {total_samples / total_elapsed:,.0f} samples/s "
          f"(one thread, thresholds cached)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
