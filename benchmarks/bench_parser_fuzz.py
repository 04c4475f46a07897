"""Fuzzes parse_message for a while with the property tests' hypothesis strategies.

    python benchmarks/bench_parser_fuzz.py                 # 30 s
    python benchmarks/bench_parser_fuzz.py --seconds 120 --seed 3

Draws (topic, payload) pairs from tests/services/wire/strategies.py (real-shaped
skeletons of both formats with hostile leaves, arbitrary JSON, raw bytes) and parses
each one.  Prints cases/s, accepted messages by kind, refusals by reason, the most
frequent notes, and the safety-net hits, which must be 0: the exit code is 1 otherwise.
The rate includes hypothesis's own generation time, which dominates; the parser alone
is timed separately.
"""

from __future__ import annotations

import argparse
import collections
import logging
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.wire import parse as parse_module  # noqa: E402
from services.wire.errors import ParseError  # noqa: E402
from tests.services.wire.strategies import messages  # noqa: E402

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


RUN_EXAMPLES = 500  # per hypothesis run; a run that ends past the deadline skips the rest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--top-notes", type=int, default=12)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # the safety net logs tracebacks; counted instead
    random.seed(args.seed)

    accepted: collections.Counter[str] = collections.Counter()
    refused: collections.Counter[str] = collections.Counter()
    notes: collections.Counter[str] = collections.Counter()
    parse_s = 0.0
    start = time.perf_counter()
    deadline = start + args.seconds
    hits_before = parse_module.safety_net_hits()

    @settings(max_examples=RUN_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(messages())
    def fuzz(pair: tuple[str, bytes]) -> None:
        nonlocal parse_s
        if time.perf_counter() > deadline:
            return  # hypothesis cannot be stopped from inside without reporting a failure
        began = time.perf_counter()
        try:
            message = parse_module.parse_message(pair[0], pair[1], NOW)
        except ParseError as exc:
            refused[str(exc.reason)] += 1
        else:
            accepted[str(message.kind)] += 1
            notes.update(message.notes)
        parse_s += time.perf_counter() - began

    # Short runs, each a fresh random stream, until the time is up.
    while time.perf_counter() < deadline:
        fuzz()
    elapsed = time.perf_counter() - start
    cases = sum(accepted.values()) + sum(refused.values())
    hits = parse_module.safety_net_hits() - hits_before

    print(f"cases: {cases} in {elapsed:.1f} s = {cases / elapsed:,.0f} cases/s "
          f"(parser alone: {cases / max(parse_s, 1e-9):,.0f} cases/s, "
          f"{parse_s / max(cases, 1) * 1e6:.1f} us each)")
    print(f"accepted: {sum(accepted.values())}")
    for kind, count in accepted.most_common():
        print(f"  {kind:<20} {count}")
    print(f"refused: {sum(refused.values())}")
    for reason, count in refused.most_common():
        print(f"  {reason:<28} {count}")
    print(f"messages with notes: {sum(notes.values())} notes, {len(notes)} distinct; top:")
    for key, count in notes.most_common(args.top_notes):
        print(f"  {key:<44} {count}")
    print(f"safety-net hits: {hits}")
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
