"""Serve recorded market data to the sim kernel: the feed adapter kinds.

A feed adapter performs no commands; the sim kernel pulls its `events()` as a source (in ts
order) and journals each message as an input from the adapter's name. Feeds stay in the process
and are deterministic (the same file gives the same messages), so `external = False`: replay
re-reads the file and compares every input with the journal.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import ClassVar

from adapters.feeds.binance_ws import read_binance_feed
from adapters.feeds.config import (
    BinanceFeedFileConfig,
    CandlesFileConfig,
    FeedWindowConfig,
    TradesFileConfig,
)
from adapters.feeds.files import read_candles, read_trades
from agents.data.messages import MarketData
from runtime import Adapter


def windowed(
    events: Iterable[tuple[int, MarketData]], params: FeedWindowConfig, /
) -> Iterator[tuple[int, MarketData]]:
    """Keep the events stamped in `[start, end)`, at most `limit` of them."""
    it = iter(events)
    start, end = params.start_ns, params.end_ns
    if start is not None:
        it = (ev for ev in it if ev[0] >= start)
    if end is not None:
        it = _until(it, end)
    if params.limit is not None:
        it = islice(it, params.limit)
    return it


def _until(it: Iterator[tuple[int, MarketData]], end: int) -> Iterator[tuple[int, MarketData]]:
    for ev in it:
        if ev[0] >= end:
            return
        yield ev


class FileFeed(Adapter, ABC):
    """Base of the file feeds: no commands, just `events()`."""

    external: ClassVar[bool] = False
    params: FeedWindowConfig

    def events(self) -> Iterator[tuple[int, MarketData]]:
        """Return the feed's `(ts_ns, message)` pairs, in ts order, read lazily."""
        return windowed(self.read(), self.params)

    @property
    def to(self) -> str:
        """Return the actor the feed sends to ("" to publish), read by the sim kernel's builder."""
        return self.params.to

    @abstractmethod
    def read(self) -> Iterator[tuple[int, MarketData]]:
        """Read the whole file; `events` applies the window."""


class CandlesFileFeed(FileFeed):
    """Kind `candles_file`: the candles of a file as `Bar`s, stamped at their close."""

    Params = CandlesFileConfig

    def __init__(self, params: CandlesFileConfig) -> None:
        self.params = self.config = params

    def read(self) -> Iterator[tuple[int, MarketData]]:
        p = self.config
        return read_candles(
            p.path, format=p.format, instrument=p.instrument, timeframe_secs=p.timeframe_secs
        )


class TradesFileFeed(FileFeed):
    """Kind `trades_file`: the public trades of a file as `Trade`s."""

    Params = TradesFileConfig

    def __init__(self, params: TradesFileConfig) -> None:
        self.params = self.config = params

    def read(self) -> Iterator[tuple[int, MarketData]]:
        p = self.config
        return read_trades(p.path, format=p.format, instrument=p.instrument)


class BinanceFeedFile(FileFeed):
    """Kind `binance_feed_file`: a recorded Binance feed as `Quote`, `Trade`, `BookDelta`."""

    Params = BinanceFeedFileConfig

    def __init__(self, params: BinanceFeedFileConfig) -> None:
        self.params = self.config = params

    def read(self) -> Iterator[tuple[int, MarketData]]:
        p = self.config
        return read_binance_feed([p.path, *p.more_paths], instrument=p.instrument, depth=p.depth)
