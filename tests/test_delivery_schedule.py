"""The retry schedule: attempts, delays and their jitter."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.delivery import RetrySchedule
from gateway.settings import DEFAULT_RETRY_SCHEDULE, SettingError, parse_schedule


def test_default_schedule_matches_the_issue():
    assert parse_schedule(None) == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    assert RetrySchedule(DEFAULT_RETRY_SCHEDULE).max_attempts == 8


def test_override_and_invalid_values():
    assert parse_schedule("0, 0.2,1") == (0.0, 0.2, 1.0)
    for bad in ("a,b", "-1", ","):
        with pytest.raises(SettingError, match="GATEWAY_RETRY_SCHEDULE"):
            parse_schedule(bad)


@given(attempts=st.integers(min_value=1, max_value=50), seed=st.integers())
def test_delay_stays_within_twenty_percent_of_the_schedule(attempts, seed):
    schedule = RetrySchedule(DEFAULT_RETRY_SCHEDULE, rng=random.Random(seed))
    base = DEFAULT_RETRY_SCHEDULE[min(attempts, len(DEFAULT_RETRY_SCHEDULE) - 1)]
    assert base * 0.8 <= schedule.delay_after(attempts) <= base * 1.2


def test_delay_after_each_attempt_uses_the_next_entry():
    low = RetrySchedule((0, 10, 100), rng=random.Random(1))
    assert 8 <= low.delay_after(1) <= 12  # after attempt 1, wait before attempt 2
    assert 80 <= low.delay_after(2) <= 120
    assert 80 <= low.delay_after(7) <= 120  # re-queued by hand past the end: the last entry


def test_jitter_spreads_retries():
    schedule = RetrySchedule((0, 100), rng=random.Random(7))
    delays = {round(schedule.delay_after(1), 6) for _ in range(50)}
    assert len(delays) > 40 and min(delays) < 95 and max(delays) > 105


def test_attempts_run_out_at_the_end_of_the_schedule():
    schedule = RetrySchedule((0, 1, 2))
    assert [schedule.exhausted(n) for n in (1, 2, 3, 4)] == [False, False, True, True]
    with pytest.raises(ValueError) as raised:
        RetrySchedule(())
    assert str(raised.value) == "a retry schedule needs at least one entry"


class FixedRandom:
    """A random source that answers ``value`` and keeps the range it was asked for."""

    def __init__(self, value: float):
        self.value = value
        self.asked: list[tuple[float, float]] = []

    def uniform(self, low: float, high: float) -> float:
        self.asked.append((low, high))
        return self.value


@pytest.mark.parametrize("factor, expected", [
    (1.0, [5.0, 300.0, 1800.0, 36000.0, 36000.0]),
    (0.8, [4.0, 240.0, 1440.0, 28800.0, 28800.0]),
    (1.2, [6.0, 360.0, 2160.0, 43200.0, 43200.0]),
])
def test_delays_written_out_for_a_given_jitter(factor, expected):
    rng = FixedRandom(factor)
    schedule = RetrySchedule(DEFAULT_RETRY_SCHEDULE, rng=rng)
    assert [schedule.delay_after(n) for n in (1, 2, 3, 7, 12)] == pytest.approx(expected)
    assert rng.asked == [(0.8, 1.2)] * 5  # the injected source decides the jitter, within +-20%


def test_delay_before_the_first_attempt_is_the_first_entry():
    assert RetrySchedule((7, 50), rng=FixedRandom(1.0)).delay_after(0) == 7.0


def test_the_same_seed_gives_the_same_delays_and_another_seed_others():
    def delays(seed):
        schedule = RetrySchedule(DEFAULT_RETRY_SCHEDULE, rng=random.Random(seed))
        return [schedule.delay_after(n) for n in range(1, 12)]

    assert delays(42) == delays(42)
    assert delays(42) != delays(43)


def test_without_a_source_the_delays_still_vary():
    first, second = RetrySchedule((0, 100)), RetrySchedule((0, 100))
    assert len({first.delay_after(1) for _ in range(20)} | {second.delay_after(1) for _ in range(20)}) > 30
