"""Gap detection on hand-made candle series."""

from __future__ import annotations

import pytest

from agents.data.gaps import Gap, GapDetector, find_gaps, missing_total, span_gaps

TF = 60


def opens(*minutes: int) -> list[int]:
    return [m * TF for m in minutes]


def test_a_complete_series_has_no_gaps() -> None:
    assert find_gaps(opens(0, 1, 2, 3), TF) == []


def test_empty_and_single_candle_series_have_no_gaps() -> None:
    assert find_gaps([], TF) == []
    assert find_gaps(opens(7), TF) == []


def test_one_missing_candle() -> None:
    assert find_gaps(opens(0, 1, 3), TF) == [Gap(start_ns=2 * TF, end_ns=3 * TF, missing=1)]


def test_several_gaps_in_order_with_counts() -> None:
    gaps = find_gaps(opens(0, 4, 5, 6, 10), TF)
    assert gaps == [
        Gap(start_ns=1 * TF, end_ns=4 * TF, missing=3),
        Gap(start_ns=7 * TF, end_ns=10 * TF, missing=3),
    ]
    assert missing_total(gaps) == 6


def test_span_gaps_counts_a_missing_head_and_tail() -> None:
    gaps = span_gaps(opens(2, 3, 5), TF, start_ns=0, end_ns=8 * TF)
    assert gaps == [
        Gap(start_ns=0, end_ns=2 * TF, missing=2),
        Gap(start_ns=4 * TF, end_ns=5 * TF, missing=1),
        Gap(start_ns=6 * TF, end_ns=8 * TF, missing=2),
    ]


def test_span_gaps_of_an_empty_series_is_the_whole_span() -> None:
    assert span_gaps([], TF, start_ns=0, end_ns=3 * TF) == [
        Gap(start_ns=0, end_ns=3 * TF, missing=3)
    ]


def test_span_gaps_ignores_candles_outside_the_span() -> None:
    assert span_gaps(opens(0, 1, 2, 9), TF, start_ns=TF, end_ns=3 * TF) == []


def test_detector_streams_one_candle_at_a_time() -> None:
    det = GapDetector(TF)
    assert det.add(0) is None
    assert det.add(TF) is None
    assert det.add(5 * TF) == Gap(start_ns=2 * TF, end_ns=5 * TF, missing=3)


@pytest.mark.parametrize("series", [opens(0, 2, 1), opens(0, 1, 1)])
def test_times_that_do_not_increase_are_rejected(series: list[int]) -> None:
    with pytest.raises(ValueError, match="must increase"):
        find_gaps(series, TF)


def test_misaligned_times_are_rejected() -> None:
    with pytest.raises(ValueError, match="multiple of 60"):
        find_gaps([0, 61], TF)


def test_timeframe_must_be_positive() -> None:
    with pytest.raises(ValueError, match="`timeframe_ns` must be > 0, got 0"):
        GapDetector(0)
