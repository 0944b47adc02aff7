"""Timeframes parse to seconds; a series names itself."""

from __future__ import annotations

import pytest

from adapters.stores.candles import Series, timeframe_secs


@pytest.mark.parametrize(
    ("tf", "secs"),
    [("1m", 60), ("5m", 300), ("4h", 14_400), ("1d", 86_400), ("1w", 604_800), ("30s", 30)],
)
def test_timeframe_secs(tf: str, secs: int) -> None:
    assert timeframe_secs(tf) == secs


@pytest.mark.parametrize("tf", ["", "m", "0m", "1M", "1 m", "1y", "01m"])
def test_bad_timeframes_are_refused(tf: str) -> None:
    with pytest.raises(ValueError, match="`timeframe` must look like"):
        timeframe_secs(tf)


def test_series_label_and_timeframe_ns() -> None:
    s = Series(exchange="kraken", symbol="BTC/USD", timeframe="5m")
    assert s.label == "kraken BTC/USD 5m"
    assert s.timeframe_ns == 300 * 10**9
