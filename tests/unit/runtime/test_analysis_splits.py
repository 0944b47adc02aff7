"""Walk-forward splits: train precedes test, tests never overlap, everything inside the window."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime._analysis_splits import live_window, walk_forward
from runtime._errors import ConfigError

MIN = 60 * 1_000_000_000
DAY = 1440 * MIN


@given(
    start=st.integers(0, 10**6).map(lambda m: m * MIN),
    span=st.integers(2, 20_000).map(lambda m: m * MIN),
    train=st.integers(1, 5_000).map(lambda m: m * MIN),
    test=st.integers(1, 5_000).map(lambda m: m * MIN),
    extra=st.integers(0, 2_000).map(lambda m: m * MIN),
    anchored=st.booleans(),
)
def test_splits_keep_their_invariants(
    start: int, span: int, train: int, test: int, extra: int, anchored: bool
) -> None:
    end = start + span
    step = test + extra
    if span < train + test:
        with pytest.raises(ConfigError, match="shorter than one train"):
            walk_forward(start, end, train_ns=train, test_ns=test, step_ns=step)
        return
    splits = walk_forward(start, end, train_ns=train, test_ns=test, step_ns=step, anchored=anchored)
    assert splits, "a window that holds one train + test gives at least one split"
    for i, s in enumerate(splits):
        assert s.index == i
        # Train precedes test, and both lie inside the window.
        assert start <= s.train_start_ns < s.train_end_ns == s.test_start_ns < s.test_end_ns <= end
        assert s.test_end_ns - s.test_start_ns == test
        if anchored:
            assert s.train_start_ns == start
        else:
            assert s.train_end_ns - s.train_start_ns == train
    for a, b in itertools.pairwise(splits):
        # Test windows never overlap and move forward by the step.
        assert a.test_end_ns <= b.test_start_ns
        assert b.test_start_ns - a.test_start_ns == step
    # As many splits as fit: one more step would leave the window.
    assert splits[-1].test_end_ns + step > end
    if extra == 0:
        # With step == test the test windows tile the window after the first train span.
        covered = sum(s.test_end_ns - s.test_start_ns for s in splits)
        assert covered == splits[-1].test_end_ns - (start + train)
        assert end - splits[-1].test_end_ns < step


def test_a_step_shorter_than_the_test_window_is_refused() -> None:
    with pytest.raises(ConfigError, match="step_days"):
        walk_forward(0, 10 * DAY, train_ns=DAY, test_ns=2 * DAY, step_ns=DAY)


def test_seven_day_train_three_day_test_over_thirty_days() -> None:
    splits = walk_forward(0, 30 * DAY, train_ns=7 * DAY, test_ns=3 * DAY)
    assert len(splits) == 7  # tests start on days 7, 10, ..., 25; day 28 + 3 > 30
    assert [s.test_start_ns // DAY for s in splits] == [7, 10, 13, 16, 19, 22, 25]
    assert [s.train_start_ns // DAY for s in splits] == [0, 3, 6, 9, 12, 15, 18]


def test_the_live_window_is_the_last_train_span() -> None:
    assert live_window(0, 30 * DAY, train_ns=7 * DAY) == (23 * DAY, 30 * DAY)
    assert live_window(0, 30 * DAY, train_ns=7 * DAY, anchored=True) == (0, 30 * DAY)
