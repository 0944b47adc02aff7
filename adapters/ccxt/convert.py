"""Turn ccxt's unified structures into Kinetic's market data messages, with exact `Decimal`s.

ccxt parses a venue's numbers into Python `float`s (Kraken sends prices as strings, ccxt
calls `float()` on them). Every price and size here is `Decimal(repr(f))`: `repr` is the
shortest decimal text that reads back as the same float, so whenever the venue's number had at
most 15 significant digits (every Kraken price and size does) the `Decimal` equals the venue's
number exactly; only trailing zeros are lost (Kraken's `"73324.40000"` becomes `73324.4`).
`Decimal(f)` would instead give the float's binary expansion
(`73324.39999999999417923390865325927734375`), and rounding to a guessed precision would hide
a bad value. The tests check every value of every recorded Kraken reply against the reply's own
text.

ccxt's unified OHLCV rows carry no trade count, so `Bar.trades` is 0 for candles from ccxt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

from adapters.ccxt.errors import VenueBrokenError
from agents.data.messages import Bar, BookDelta, Quote, Trade

NS_PER_MS = 1_000_000
_SIDES: dict[Any, Literal["buy", "sell", "unknown"]] = {"buy": "buy", "sell": "sell"}


def exact(value: object, /, *, field: str) -> Decimal:
    """Return the ccxt number `value` as the `Decimal` it was parsed from (module docstring)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise VenueBrokenError(f"`{field}` must be a finite number, got {value!r}")
        return Decimal(repr(value))
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            return Decimal(value)
        except ArithmeticError:
            pass
    raise VenueBrokenError(f"`{field}` must be a number, got {value!r}")


def bars(rows: Sequence[Sequence[Any]], /, *, symbol: str, timeframe_ns: int) -> list[Bar]:
    """Return ccxt OHLCV rows `[ms, open, high, low, close, volume]` as `Bar`s.

    Rows must open on the timeframe's grid and strictly increase, as a venue's candles do.
    """
    out: list[Bar] = []
    last = None
    for row in rows:
        if len(row) < 6 or not isinstance(row[0], int):
            raise VenueBrokenError(f"ohlcv rows must be `[ms, o, h, l, c, v]`, got {row!r}")
        start = row[0] * NS_PER_MS
        if start % timeframe_ns or (last is not None and start <= last):
            raise VenueBrokenError(
                f"candle open times must increase on a {timeframe_ns // NS_PER_MS} ms grid,"
                f" got {row[0]} ms after {None if last is None else last // NS_PER_MS} ms"
            )
        last = start
        out.append(
            Bar(
                instrument=symbol,
                start_ns=start,
                end_ns=start + timeframe_ns,
                open=exact(row[1], field="open"),
                high=exact(row[2], field="high"),
                low=exact(row[3], field="low"),
                close=exact(row[4], field="close"),
                volume=exact(row[5], field="volume"),
                trades=0,
            )
        )
    return out


def trade(raw: dict[str, Any], /, *, symbol: str) -> tuple[int, Trade]:
    """Return a ccxt trade as `(trade time ns, Trade)`."""
    stamp = raw.get("timestamp")
    if not isinstance(stamp, int):
        raise VenueBrokenError(f"`timestamp` of a trade must be ms, got {stamp!r}")
    return stamp * NS_PER_MS, Trade(
        instrument=symbol,
        price=exact(raw.get("price"), field="price"),
        size=exact(raw.get("amount"), field="amount"),
        side=_SIDES.get(raw.get("side"), "unknown"),
        trade_id="" if raw.get("id") is None else str(raw["id"]),
    )


def quote(raw: dict[str, Any], /, *, symbol: str, received_ns: int) -> tuple[int, Quote]:
    """Return a ccxt ticker's best bid and offer as `(ts ns, Quote)`.

    Stamped at the venue's time when it gives one, else at `received_ns` (Kraken's ticker has
    no time). A size the venue does not give is 0.
    """
    stamp = raw.get("timestamp")
    return (stamp * NS_PER_MS if isinstance(stamp, int) else received_ns), Quote(
        instrument=symbol,
        bid=exact(raw.get("bid"), field="bid"),
        bid_size=_size(raw.get("bidVolume"), "bidVolume"),
        ask=exact(raw.get("ask"), field="ask"),
        ask_size=_size(raw.get("askVolume"), "askVolume"),
    )


def book(raw: dict[str, Any], /, *, symbol: str, received_ns: int) -> tuple[int, list[BookDelta]]:
    """Return a ccxt order book as `(ts ns, BookDelta per level)`: bids best first, then asks.

    A snapshot as deltas: applied to an empty book, they rebuild it.
    """
    stamp = raw.get("timestamp")
    deltas = []
    for side, key in (("bid", "bids"), ("ask", "asks")):
        for level in raw.get(key) or ():
            deltas.append(
                BookDelta(
                    instrument=symbol,
                    side=side,  # type: ignore[arg-type]
                    price=exact(level[0], field=f"{key}.price"),
                    size=exact(level[1], field=f"{key}.amount"),
                )
            )
    return (stamp * NS_PER_MS if isinstance(stamp, int) else received_ns), deltas


def _size(value: object, field: str) -> Decimal:
    return Decimal(0) if value is None else exact(value, field=field)
