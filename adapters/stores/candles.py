"""Define the candle store: the market-data history backfill and sync write and backtests read.

Unlike the journal, candles are not a record of what happened in a run but a cache of what a
venue publishes, so the store **upserts**: a candle is keyed by (exchange, symbol, timeframe,
open time) and writing it again replaces it (a venue may correct a late print). Writing the
same page twice leaves the same rows: backfills are idempotent and may be re-run or resumed
freely. Prices and sizes stay exact (`TEXT` in SQLite, `numeric` in PostgreSQL), digits and
exponent as given.

A backfill records how far it got in the same transaction as each page of candles, keyed by
the series and the start it was asked for, so an interrupted backfill resumes where its last
committed page ended and never re-stores a page it had not finished.

The backends are siblings (`candles_sqlite`, `candles_postgres`) held to one contract test
(`tests/integration/stores/candles_contract.py`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Protocol

import msgspec

from agents.data.messages import Bar

NS_PER_S = 1_000_000_000
_TIMEFRAME = re.compile(r"^([1-9][0-9]*)([smhdw])$")
_UNIT_SECS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
READ_BATCH = 50_000
"""Rows one read query returns: a bounded page, so reading a long history holds no cursor."""


class Series(msgspec.Struct, frozen=True, kw_only=True, order=True):
    """Name one candle series: a venue's candles of one symbol at one timeframe."""

    exchange: str
    """The ccxt exchange id (`kraken`)."""
    symbol: str
    """The unified symbol (`BTC/USD`); `Bar.instrument` of its candles."""
    timeframe: str
    """The candle length as ccxt writes it (`1m`, `5m`, `1h`, `1d`)."""

    @property
    def timeframe_ns(self) -> int:
        """Return the candle length in ns."""
        return timeframe_secs(self.timeframe) * NS_PER_S

    @property
    def label(self) -> str:
        """Return `exchange symbol timeframe`, for messages and progress bars."""
        return f"{self.exchange} {self.symbol} {self.timeframe}"


class SeriesInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Summarize one stored series: how many candles, the first and last open times."""

    series: Series
    candles: int
    first_ns: int
    last_ns: int


class BackfillMark(msgspec.Struct, frozen=True, kw_only=True):
    """Record that the backfill of a series from `start_ns` has covered `[start_ns, next_ns)`."""

    start_ns: int
    next_ns: int


def timeframe_secs(timeframe: str, /) -> int:
    """Return the length of `timeframe` (`1m`, `4h`, ...) in seconds."""
    match = _TIMEFRAME.match(timeframe)
    if match is None:
        raise ValueError(f"`timeframe` must look like `1m`, `5m`, `1h` or `1d`, got {timeframe!r}")
    return int(match.group(1)) * _UNIT_SECS[match.group(2)]


class CandleStore(Protocol):
    """What backfill, sync and gap reports need from a candle store.

    Every method is a cancellation point; a write that reached the database commits or rolls
    back as a whole.
    """

    name: str

    async def open(self) -> None:
        """Connect and create the schema when missing; idempotent."""

    async def close(self) -> None:
        """Disconnect; idempotent."""

    async def upsert(
        self, series: Series, bars: Sequence[Bar], /, *, backfill: BackfillMark | None = None
    ) -> None:
        """Insert or replace `bars` of `series`, and move its backfill mark, in one transaction.

        A mark only moves forward: a `next_ns` below the stored one leaves it.
        """

    async def backfill_next(self, series: Series, start_ns: int, /) -> int | None:
        """Return where the backfill of `series` from `start_ns` should continue, or None."""

    async def series(self) -> list[SeriesInfo]:
        """Return every stored series, sorted by (exchange, symbol, timeframe)."""

    def open_times(
        self,
        series: Series,
        /,
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
        batch: int = READ_BATCH,
    ) -> AsyncIterator[list[int]]:
        """Yield the open times of `series` in `[start_ns, end_ns)`, ascending, `batch` at a time.

        Each batch is one keyset query: no cursor stays open while the caller works.
        """
        ...

    def read(
        self,
        series: Series,
        /,
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
        batch: int = READ_BATCH,
    ) -> AsyncIterator[list[Bar]]:
        """Yield the candles of `series` opening in `[start_ns, end_ns)`, ascending, in batches."""
        ...


def bar_of(series: Series, tf_ns: int, row: Sequence[object], /) -> Bar:
    """Return the `Bar` of a stored row `(ts, open, high, low, close, volume, trades)`."""
    ts, o, h, lo, c, v, n = row
    assert isinstance(ts, int)
    assert isinstance(n, int)
    return Bar(
        instrument=series.symbol,
        start_ns=ts,
        end_ns=ts + tf_ns,
        open=_dec(o),
        high=_dec(h),
        low=_dec(lo),
        close=_dec(c),
        volume=_dec(v),
        trades=n,
    )


def _dec(value: object) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))
