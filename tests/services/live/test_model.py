"""RingBuffer: growth by doubling, trimming by age, wrap-around, the count bound."""

from __future__ import annotations

import numpy as np
import pytest

from services.live.model import INITIAL_CAPACITY, Health, RingBuffer, SignalKey


def fill(buffer: RingBuffer, times) -> None:
    for t in times:
        buffer.append(float(t), float(t) * 10)


def test_empty_buffer_has_nothing_to_show():
    buffer = RingBuffer(max_age_s=60, max_points=100)
    times, values = buffer.snapshot()
    assert len(buffer) == 0 and times.size == 0 and values.size == 0
    assert buffer.latest() is None


def test_grows_by_doubling_from_a_small_start_up_to_the_bound():
    buffer = RingBuffer(max_age_s=1e9, max_points=1000)
    assert buffer.capacity == INITIAL_CAPACITY
    fill(buffer, range(INITIAL_CAPACITY + 1))
    assert buffer.capacity == 2 * INITIAL_CAPACITY
    fill(buffer, range(INITIAL_CAPACITY + 1, 5000))
    assert buffer.capacity == 1000 and len(buffer) == 1000
    times, values = buffer.snapshot()
    np.testing.assert_array_equal(times, np.arange(4000, 5000, dtype=float))
    np.testing.assert_array_equal(values, times * 10)


def test_a_quiet_signal_stays_small():
    buffer = RingBuffer(max_age_s=900, max_points=9000)
    fill(buffer, range(0, 900, 5))  # one sample every 5 s for the whole window
    assert buffer.capacity == INITIAL_CAPACITY


def test_old_samples_are_trimmed_by_age():
    buffer = RingBuffer(max_age_s=10, max_points=1000)
    fill(buffer, np.arange(0, 30, 0.5))
    times, _ = buffer.snapshot()
    assert times[0] == pytest.approx(19.5) and times[-1] == pytest.approx(29.5)
    assert np.all(np.diff(times) > 0)
    # A gap longer than the window leaves only the new sample.
    buffer.append(100.0, 1.0)
    assert len(buffer) == 1 and buffer.latest() == (100.0, 1.0)


def test_wraps_around_and_keeps_order_when_full():
    buffer = RingBuffer(max_age_s=1e9, max_points=INITIAL_CAPACITY)
    fill(buffer, range(INITIAL_CAPACITY + 37))
    assert buffer.capacity == INITIAL_CAPACITY and len(buffer) == INITIAL_CAPACITY
    times, values = buffer.snapshot()
    np.testing.assert_array_equal(times, np.arange(37, INITIAL_CAPACITY + 37, dtype=float))
    np.testing.assert_array_equal(values, times * 10)
    assert buffer.latest() == (float(INITIAL_CAPACITY + 36), float(INITIAL_CAPACITY + 36) * 10)


def test_snapshot_is_a_copy():
    buffer = RingBuffer(max_age_s=1e9, max_points=10)
    fill(buffer, range(5))
    times, values = buffer.snapshot()
    times[:] = -1
    values[:] = -1
    assert buffer.snapshot()[0].tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("extra", [0, 3, 9])  # not wrapped, wrapped, wrapped near the end
def test_snapshot_since_copies_only_the_window(extra):
    buffer = RingBuffer(max_age_s=1e9, max_points=10)
    fill(buffer, range(10 + extra))
    first = extra  # oldest kept time
    for since in (first - 5, first, first + 4.5, first + 9, first + 20):
        times, values = buffer.snapshot_since(since)
        expected = [t for t in range(first, first + 10) if t >= since]
        assert times.tolist() == expected
        assert values.tolist() == [t * 10 for t in expected]
    times, _ = buffer.snapshot_since(first)
    times[:] = -1
    assert buffer.snapshot()[0][0] == first


def test_bound_of_one_point_and_capacity_never_exceeds_bound():
    buffer = RingBuffer(max_age_s=1e9, max_points=1)
    fill(buffer, range(10))
    assert buffer.capacity == 1 and buffer.snapshot()[0].tolist() == [9.0]


def test_signal_key_label_and_health_order():
    assert SignalKey("r", "servos", "temperature", "servo_3").label == "servos/servo_3/temperature"
    assert SignalKey("r", "performance", "cpu_percent").label == "performance/cpu_percent"
    assert Health.OK < Health.WARN < Health.ERROR < Health.STALE < Health.OFFLINE
