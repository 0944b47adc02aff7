"""Backfill and sync candle history from ccxt into the candle store; report its gaps.

A backfill pages forward from `since`: it asks the venue for candles opening at or after a
cursor, keeps those that opened before `until` and have closed, upserts them together with the
cursor (`BackfillMark`) in one transaction, and moves the cursor past the page's last candle.
It stops when the venue has nothing newer. The store is the checkpoint: a backfill killed at
any point restarts from the last committed page (same series and `since`), and upserts make the
overlap, if any, harmless, so it ends with every candle once.

`sync` continues every stored series from its last candle to now. `gaps` reads open times in
batches and reports the missing candles with `agents.data.gaps` (pure, shared with the file
feeds); it cannot tell an outage from a quiet interval on a venue that skips empty candles.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from adapters.ccxt.data import CcxtPublicData
from adapters.stores.candles import BackfillMark, CandleStore, Series
from agents.data.gaps import Gap, GapDetector, span_gaps
from runtime.logging import get_logger

log = get_logger("kinetic.candles")


class OnProgress(Protocol):
    """Hear of each committed page: `done_ns` of `total_ns` of the span, `candles` so far."""

    def __call__(self, series: Series, /, *, done_ns: int, total_ns: int, candles: int) -> None:
        """Report progress."""


class BackfillReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one backfill or sync of one series did."""

    series: Series
    start_ns: int
    """The span asked for: candles opening in `[start_ns, end_ns)`."""
    end_ns: int
    resumed_ns: int | None
    """Where an interrupted backfill of the same span restarted; None on a fresh start."""
    next_ns: int
    """The cursor after the run: the open time after the last candle stored."""
    candles: int
    pages: int
    wall_secs: float


class SeriesGaps(msgspec.Struct, frozen=True, kw_only=True):
    """The gaps of one stored series, between its first and last candle (or a given span)."""

    series: Series
    candles: int
    first_ns: int | None
    last_ns: int | None
    missing: int
    gaps: list[Gap]


class CandleSync:
    """Run backfills, syncs and gap reports over one candle store and ccxt clients.

    `clients(exchange_id)` builds an unopened client; each is opened on first use and closed on
    exit: use as `async with CandleSync(store, clients) as job:`. The store is the caller's.
    """

    series_type = Series
    """The series key type, for callers that may not import the store module (the CLI)."""

    def __init__(self, store: CandleStore, clients: Callable[[str], CcxtPublicData], /) -> None:
        self._store = store
        self._new_client = clients
        self._clients: dict[str, CcxtPublicData] = {}
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> CandleSync:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._clients.clear()
        await self._stack.aclose()

    async def client(self, exchange: str, /) -> CcxtPublicData:
        """Return the open client of `exchange`, opening it on first use."""
        if exchange not in self._clients:
            self._clients[exchange] = await self._stack.enter_async_context(
                self._new_client(exchange)
            )
        return self._clients[exchange]

    async def backfill(
        self,
        series: Series,
        /,
        *,
        start_ns: int,
        end_ns: int | None = None,
        on_progress: OnProgress | None = None,
    ) -> BackfillReport:
        """Store the candles of `series` opening in `[start_ns, end_ns)` (default: up to now).

        Resumes an interrupted backfill of the same series and `start_ns`. A cancellation point.
        """
        client = await self.client(series.exchange)
        tf = client.timeframe_ns(series.timeframe)
        client.check_symbol(series.symbol)
        start = -(-start_ns // tf) * tf  # the first open on the grid at or after `since`
        resumed = await self._store.backfill_next(series, start)
        cursor = start if resumed is None else max(start, resumed)
        return await self._pages(
            client, series, tf, start, cursor, end_ns, resumed, on_progress, mark=True
        )

    async def sync(
        self,
        *,
        exchange: str | None = None,
        symbol: str | None = None,
        timeframe: str | None = None,
        on_progress: OnProgress | None = None,
    ) -> list[BackfillReport]:
        """Continue every stored series (matching the filters) from its last candle to now."""
        reports = []
        for info in await self._store.series():
            s = info.series
            if _matches(s, exchange, symbol, timeframe):
                client = await self.client(s.exchange)
                tf = client.timeframe_ns(s.timeframe)
                client.check_symbol(s.symbol)
                cursor = info.last_ns + tf
                reports.append(
                    await self._pages(
                        client, s, tf, cursor, cursor, None, None, on_progress, mark=False
                    )
                )
        return reports

    async def gaps(
        self,
        *,
        exchange: str | None = None,
        symbol: str | None = None,
        timeframe: str | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> list[SeriesGaps]:
        """Return the gaps of every stored series matching the filters.

        Without a span, the holes between each series' first and last candle; with `start_ns`
        and `end_ns`, a missing head or tail of that span counts too (`span_gaps`).
        """
        out = []
        for info in await self._store.series():
            s = info.series
            if not _matches(s, exchange, symbol, timeframe):
                continue
            tf = s.timeframe_ns
            found: list[Gap] = []
            count = 0
            if start_ns is not None and end_ns is not None:
                lo, hi = -(-start_ns // tf) * tf, -(-end_ns // tf) * tf
                times: list[int] = []
                async for batch in self._store.open_times(s, start_ns=lo, end_ns=hi):
                    times += batch
                count = len(times)
                found = span_gaps(times, tf, start_ns=lo, end_ns=hi) if hi > lo else []
            else:
                detector = GapDetector(tf)
                async for batch in self._store.open_times(s, start_ns=start_ns, end_ns=end_ns):
                    count += len(batch)
                    found += [g for g in map(detector.add, batch) if g is not None]
            out.append(
                SeriesGaps(
                    series=s,
                    candles=count,
                    first_ns=info.first_ns,
                    last_ns=info.last_ns,
                    missing=sum(g.missing for g in found),
                    gaps=found,
                )
            )
        return out

    async def _pages(
        self,
        client: CcxtPublicData,
        series: Series,
        tf: int,
        start: int,
        cursor: int,
        end_ns: int | None,
        resumed: int | None,
        on_progress: OnProgress | None,
        *,
        mark: bool,
    ) -> BackfillReport:
        began = time.perf_counter()
        closed = time.time_ns() // tf * tf  # candles opening before this have closed
        end = closed if end_ns is None else min(-(-end_ns // tf) * tf, closed)
        candles = pages = 0
        log.info(
            "backfill_started",
            series=series.label,
            start_ns=start,
            cursor_ns=cursor,
            end_ns=end,
            resumed=resumed is not None,
        )
        while cursor < end:
            page = await client.fetch_ohlcv(
                series.symbol, timeframe=series.timeframe, since_ns=cursor
            )
            page = [b for b in page if cursor <= b.start_ns < end]
            if not page:
                break  # the venue has nothing newer
            nxt = page[-1].start_ns + tf
            await self._store.upsert(
                series, page, backfill=BackfillMark(start_ns=start, next_ns=nxt) if mark else None
            )
            cursor = nxt
            candles += len(page)
            pages += 1
            if on_progress is not None:
                on_progress(
                    series,
                    done_ns=min(cursor, end) - start,
                    total_ns=max(end - start, 1),
                    candles=candles,
                )
        if on_progress is not None:  # the venue has nothing more before `end`: the span is done
            on_progress(
                series, done_ns=max(end - start, 1), total_ns=max(end - start, 1), candles=candles
            )
        report = BackfillReport(
            series=series,
            start_ns=start,
            end_ns=end,
            resumed_ns=resumed,
            next_ns=cursor,
            candles=candles,
            pages=pages,
            wall_secs=round(time.perf_counter() - began, 3),
        )
        log.info(
            "backfill_completed",
            series=series.label,
            candles=candles,
            pages=pages,
            next_ns=cursor,
            wall_secs=report.wall_secs,
        )
        return report


def _matches(s: Series, exchange: Any, symbol: Any, timeframe: Any) -> bool:
    return (
        (exchange is None or s.exchange == exchange)
        and (symbol is None or s.symbol == symbol)
        and (timeframe is None or s.timeframe == timeframe)
    )
