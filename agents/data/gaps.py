"""Find the missing candles in a series of candle open times; pure, for files, backfill and sync.

A gap is a run of timeframe slots with no candle between two candles that are present. Venues
skip candles for two reasons: an outage (a real hole in the data) or, on venues that print only
minutes with trades (Kraken's OHLCVT files), a quiet interval. This module cannot tell the two
apart; it reports both, and the caller decides (a sparse file reports many short gaps).

Invariant: every open time fed in is aligned to the timeframe and strictly after the previous one;
anything else is a malformed series and raises `ValueError`.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec


class Gap(msgspec.Struct, frozen=True, kw_only=True):
    """A run of missing candles: open times `start_ns`, `start_ns + tf`, ..., before `end_ns`.

    `end_ns` is the open time of the next candle present, so `missing = (end - start) / tf`.
    """

    start_ns: int
    end_ns: int
    missing: int


class GapDetector:
    """Check candle open times one at a time; a streaming feed or a sync job keeps one of these."""

    __slots__ = ("last_ns", "timeframe_ns")

    def __init__(self, timeframe_ns: int, /, *, last_ns: int | None = None) -> None:
        if timeframe_ns <= 0:
            raise ValueError(f"`timeframe_ns` must be > 0, got {timeframe_ns}")
        self.timeframe_ns = timeframe_ns
        self.last_ns = last_ns

    def add(self, open_ns: int, /) -> Gap | None:
        """Take the next candle's open time; return the gap before it, if there is one."""
        tf = self.timeframe_ns
        if open_ns % tf:
            raise ValueError(f"candle open time must be a multiple of {tf} ns, got {open_ns}")
        last = self.last_ns
        if last is not None and open_ns <= last:
            raise ValueError(f"candle open times must increase, got {open_ns} after {last}")
        self.last_ns = open_ns
        if last is None or open_ns - last == tf:
            return None
        start = last + tf
        return Gap(start_ns=start, end_ns=open_ns, missing=(open_ns - start) // tf)


def find_gaps(open_times_ns: Iterable[int], timeframe_ns: int, /) -> list[Gap]:
    """Return the gaps of a sorted series of candle open times, in order.

    Only holes between the first and the last candle count: the series does not know the span
    it was meant to cover. Use `span_gaps` for that.
    """
    detector = GapDetector(timeframe_ns)
    add = detector.add
    return [gap for gap in map(add, open_times_ns) if gap is not None]


def span_gaps(
    open_times_ns: Iterable[int], timeframe_ns: int, /, *, start_ns: int, end_ns: int
) -> list[Gap]:
    """Return the gaps of a series meant to hold every candle opening in `[start_ns, end_ns)`.

    Unlike `find_gaps`, a missing head or tail of the span is a gap too (a backfill that stopped
    early). Open times outside the span are ignored.
    """
    tf = timeframe_ns
    if start_ns % tf or end_ns % tf:
        raise ValueError(f"span must align to {tf} ns, got [{start_ns}, {end_ns})")
    detector = GapDetector(tf, last_ns=start_ns - tf)
    gaps = []
    for t in open_times_ns:
        if start_ns <= t < end_ns:
            gap = detector.add(t)
            if gap is not None:
                gaps.append(gap)
    last = detector.last_ns
    assert last is not None
    if last + tf < end_ns:
        gaps.append(Gap(start_ns=last + tf, end_ns=end_ns, missing=(end_ns - last - tf) // tf))
    return gaps


def missing_total(gaps: Iterable[Gap], /) -> int:
    """Return how many candles `gaps` miss in all."""
    return sum(g.missing for g in gaps)
