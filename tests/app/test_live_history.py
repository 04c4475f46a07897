"""Panning a paused live page before its buffers continues into the stored history."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from PySide6.QtCore import QSettings

from app.live_history import history_arrays
from app.main_window import MainWindow
from services.history.base import Bucket
from services.history.sql_store import SqlHistoryStore
from services.live.model import SignalKey
from services.wire.encode import encode
from services.wire.parse import parse_message
from tests.services.history.support import prepare_sql_schema, sample
from tests.services.live.test_feed import Console

ROBOT = "hist_r1"
CPU = SignalKey(ROBOT, "performance", "cpu_percent")


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 'history.db'}"
    prepare_sql_schema(url)
    store = SqlHistoryStore(url)
    yield store
    store.close()


def live_sample(fleet, at: float, cpu: float) -> None:
    topic, payload = encode("performance", ROBOT, int(at * 10), ts=datetime.fromtimestamp(at, UTC),
                            data={"cpu_percent": cpu})
    fleet.apply(parse_message(topic, payload, datetime.now(UTC)))


def test_panning_back_draws_the_stored_history_and_resuming_drops_it(qtbot, tmp_path,
                                                                     mosquitto, store):
    now = time.time()
    # Stored: an hour up to two minutes ago, 40 % with one 97 % spike 20 minutes ago.
    spike_at = now - 1200
    store.write([sample(ROBOT, datetime.fromtimestamp(now - 3600 + i * 10, UTC),
                        cpu_percent=97.0 if abs(now - 3600 + i * 10 - spike_at) < 5 else 40.0)
                 for i in range(348)])
    console = Console(mosquitto.port)
    try:
        window = MainWindow(console.fleet, console.feed,
                            settings=QSettings(str(tmp_path / "c.ini"), QSettings.Format.IniFormat))
        qtbot.addWidget(window)
        window.show()
        window.set_history_store(store)
        for second in range(30):  # the live buffer: the last 30 s
            live_sample(console.fleet, now - 30 + second, 50.0)
        page = window.open_live_page([ROBOT])
        plot = page.plot("CPU / memory / disk")
        qtbot.waitUntil(lambda: plot.data(CPU) is not None, timeout=5000)

        page.set_paused(True)
        plot.view_box.setXRange(now - 1800, now - 600, padding=0)  # the operator pans back
        qtbot.waitUntil(lambda: plot.history(CPU) is not None, timeout=5000)
        times, values = plot.history(CPU)
        assert times.min() >= now - 1800 - 60 and times.max() <= now
        assert values.max() == 97.0 and values.min() == 40.0  # the spike survives downsampling
        assert len(times) <= 2 * int(plot.view_box.width()) + 2  # about a bucket per pixel

        page.set_paused(False)
        assert plot.history(CPU) is None
    finally:
        console.close()


def test_buckets_become_min_then_max_points():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times, values = history_arrays([Bucket(start, 1.0, 5.0, 3.0, 4)])
    assert list(times) == [start.timestamp()] * 2 and list(values) == [1.0, 5.0]
    assert [len(a) for a in history_arrays([])] == [0, 0]
