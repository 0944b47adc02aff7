"""Define the market data contract every other agent reads: ticks, bars, trades, quotes, book.

Prices and sizes are exact `Decimal`s quantized to the instrument's tick and lot, so nothing
downstream (orders, fills, ledger) inherits a float. Market data conflates per instrument: a busy
consumer sees the latest tick, and the drop is counted; trades and book deltas, which are events
rather than states, never conflate.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from runtime import Message


class MarketData(Message, frozen=True, kw_only=True, tag="data.MarketData"):
    """Base of market data: keyed by instrument, conflated in mailboxes."""

    conflate: ClassVar[bool] = True
    key_field: ClassVar[str | None] = "instrument"

    instrument: str


class Tick(MarketData, frozen=True, kw_only=True, tag="data.Tick"):
    """Report the last trade price and size of an instrument."""

    price: Decimal
    size: Decimal


class Bar(MarketData, frozen=True, kw_only=True, tag="data.Bar"):
    """Summarize the trades of one interval `[start_ns, end_ns)`."""

    start_ns: int
    end_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int


class Trade(MarketData, frozen=True, kw_only=True, tag="data.Trade"):
    """Report one public trade of an instrument, as the venue printed it.

    `side` is the aggressor's (taker's) side; `unknown` when the source does not say.
    `trade_id` is the venue's id, as text (ids are not always numbers).

    Trades never conflate: each is an event, not a state, and the arrival-intensity estimator
    counts them and the simulated venue fills resting orders on them; a dropped trade would bias
    the one and lose fills for the other. A consumer that only wants the price reads `Tick`.
    """

    conflate: ClassVar[bool] = False

    price: Decimal
    size: Decimal
    side: Literal["buy", "sell", "unknown"] = "unknown"
    trade_id: str = ""


class Quote(MarketData, frozen=True, kw_only=True, tag="data.Quote"):
    """Report the best bid and offer of an instrument (top of book)."""

    bid: Decimal
    bid_size: Decimal
    ask: Decimal
    ask_size: Decimal


class BookDelta(MarketData, frozen=True, kw_only=True, tag="data.BookDelta"):
    """Set the size resting at one price level of an instrument's book; size 0 removes it.

    Unlike other market data, deltas never conflate: dropping one would corrupt every book
    rebuilt from them. A consumer that only wants the top of book reads `Quote` instead.
    """

    conflate: ClassVar[bool] = False

    side: Literal["bid", "ask"]
    price: Decimal
    size: Decimal
