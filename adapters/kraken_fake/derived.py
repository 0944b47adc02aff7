"""Derive the replies no recording holds: a ticker for unrecorded pairs, and every order book.

`../shared/data` records one Kraken ticker (XBT/USDT, from ccxt's static tests) and no `Depth`
reply at all. So, deterministically and from recorded data only:

- a **ticker** for a pair without one summarizes its finest OHLC recording over the last 24 h
  (open, high, low, close, volume, trades, volume-weighted close), with the best bid at the last
  close and the best ask one tick above;
- a **book** has its best bid and ask at the ticker's, then one level per tick outward, sized by
  the pair's recorded trade sizes in turn (1 where none are recorded). Kraken's `Depth` rows are
  `[price, volume, timestamp]`.

These are fakes for demos and tests, not market reconstructions.
"""

from __future__ import annotations

import bisect
import itertools
from decimal import Decimal
from typing import Any

from adapters.kraken_fake.pairs import ASSET_PAIRS
from adapters.kraken_fake.recordings import NS_PER_S, KrakenRecordings

_DAY_SECS = 86_400


def ticker(rec: KrakenRecordings, pair: str, /) -> dict[str, Any] | None:
    """Return the recorded ticker of `pair`, else one derived from its OHLC, else None."""
    if pair in rec.tickers:
        return rec.tickers[pair]
    intervals = sorted(i for p, i in rec.ohlc if p == pair)
    if not intervals:
        return None
    series = rec.ohlc[pair, intervals[0]]
    if not series.rows:
        return None
    first = bisect.bisect_left(series.times, series.times[-1] - _DAY_SECS + 1)
    day = series.rows[first:]
    last = day[-1]
    close = Decimal(last[4])
    volume = sum((Decimal(r[6]) for r in day), Decimal(0))
    notional = sum((Decimal(r[4]) * Decimal(r[6]) for r in day), Decimal(0))
    vwap = notional / volume if volume else close
    vwap_text = f"{vwap.quantize(close):f}"
    high = f"{max(Decimal(r[2]) for r in day):f}"
    low = f"{min(Decimal(r[3]) for r in day):f}"
    trades = sum(int(r[7]) for r in day)
    return {
        "a": [f"{close + _tick(pair):f}", "1", "1.000"],
        "b": [last[4], "1", "1.000"],
        "c": [last[4], last[6]],
        "v": [f"{volume:f}", f"{volume:f}"],
        "p": [vwap_text, vwap_text],
        "t": [trades, trades],
        "l": [low, low],
        "h": [high, high],
        "o": day[0][1],
    }


def depth(rec: KrakenRecordings, pair: str, /, *, count: int) -> dict[str, Any] | None:
    """Return a book of `count` levels a side around `pair`'s ticker, or None without one."""
    top = ticker(rec, pair)
    if top is None:
        return None
    ask, bid = Decimal(top["a"][0]), Decimal(top["b"][0])
    tick = _tick(pair)
    trades = rec.trades.get(pair)
    sizes = [r[1] for r in trades.rows[-count:]] if trades and trades.rows else ["1.00000000"]
    stamp = _latest_secs(rec, pair)
    asks, bids = [], []
    for i, size in zip(range(count), itertools.cycle(sizes), strict=False):
        asks.append([f"{(ask + i * tick).quantize(ask):f}", size, stamp])
        bids.append([f"{(bid - i * tick).quantize(bid):f}", size, stamp])
    return {"asks": asks, "bids": bids}


def _tick(pair: str) -> Decimal:
    return Decimal(1).scaleb(-int(ASSET_PAIRS[pair]["pair_decimals"]))


def _latest_secs(rec: KrakenRecordings, pair: str) -> int:
    times = [s.times[-1] for (p, _), s in rec.ohlc.items() if p == pair and s.times]
    trades = rec.trades.get(pair)
    if trades and trades.times:
        times.append(trades.times[-1] // NS_PER_S)
    return max(times, default=0)
