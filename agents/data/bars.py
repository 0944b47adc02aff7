"""Aggregate ticks into time bars; pure state and functions, driven by `BarBuilder`."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from agents.data.messages import Bar, Tick


class OpenBar(msgspec.Struct, kw_only=True):
    """The bar being built: its window and running OHLCV."""

    start_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int


def window_start(ts_ns: int, bar_ns: int, /) -> int:
    """Return the start of the bar window that contains `ts_ns` (windows align to epoch)."""
    return ts_ns - ts_ns % bar_ns


def add_tick(
    bar: OpenBar | None, tick: Tick, ts_ns: int, bar_ns: int, /
) -> tuple[OpenBar, Bar | None]:
    """Fold `tick` at `ts_ns` into `bar`; return the open bar and the bar it completed, if any."""
    start = window_start(ts_ns, bar_ns)
    done: Bar | None = None
    if bar is not None and bar.start_ns != start:
        done = close_bar(bar, tick.instrument, bar_ns)
        bar = None
    if bar is None:
        return OpenBar(
            start_ns=start,
            open=tick.price,
            high=tick.price,
            low=tick.price,
            close=tick.price,
            volume=tick.size,
            trades=1,
        ), done
    bar.high = max(bar.high, tick.price)
    bar.low = min(bar.low, tick.price)
    bar.close = tick.price
    bar.volume += tick.size
    bar.trades += 1
    return bar, done


def close_bar(bar: OpenBar, instrument: str, bar_ns: int, /) -> Bar:
    """Return the finished `Bar` message for `bar`."""
    return Bar(
        instrument=instrument,
        start_ns=bar.start_ns,
        end_ns=bar.start_ns + bar_ns,
        open=bar.open,
        high=bar.high,
        low=bar.low,
        close=bar.close,
        volume=bar.volume,
        trades=bar.trades,
    )
