"""Define the one contract every candle store passes, subclassed once per backend.

Backfill, sync and gap reports see only `adapters.stores.candles.CandleStore`; each backend's
test module only says how to build its store.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest

from adapters.stores.candles import BackfillMark, CandleStore, Series
from agents.data.messages import Bar
from runtime import StoreBrokenError, StoreClosedError

CandleStoreFactory = Callable[[], CandleStore]
"""Build an unopened store over the test's one location (a file, a schema)."""

BTC = Series(exchange="kraken", symbol="BTC/USD", timeframe="1m")
ETH = Series(exchange="kraken", symbol="ETH/USD", timeframe="1m")
MIN = 60_000_000_000
T0 = 1_672_531_200_000_000_000  # 2023-01-01T00:00Z


def bar(i: int, /, *, series: Series = BTC, close: str = "16530.10", trades: int = 3) -> Bar:
    """Return the candle opening `i` minutes after T0, with prices that keep their exponent."""
    start = T0 + i * MIN
    return Bar(
        instrument=series.symbol,
        start_ns=start,
        end_ns=start + MIN,
        open=Decimal("16535.97"),
        high=Decimal("16540.00000"),
        low=Decimal("1E-8"),
        close=Decimal(close),
        volume=Decimal("0.00000010"),
        trades=trades,
    )


async def read_all(store: CandleStore, series: Series = BTC, /, **kw: int) -> list[Bar]:
    """Return every candle `store.read` yields for `series`."""
    return [b async for batch in store.read(series, **kw) for b in batch]


def same(a: list[Bar], b: list[Bar]) -> bool:
    """Tell whether two candle lists are equal down to each Decimal's digits and exponent."""
    return a == b and all(
        x.close.as_tuple() == y.close.as_tuple() and x.low.as_tuple() == y.low.as_tuple()
        for x, y in zip(a, b, strict=True)
    )


class CandleStoreContract(abc.ABC):
    """The behaviour every candle store shares. Subclasses provide `new_store`."""

    @abc.abstractmethod
    @pytest.fixture
    def new_store(self) -> CandleStoreFactory:
        """Return a factory of stores over one fresh location."""

    @pytest.fixture
    async def store(self, new_store: CandleStoreFactory) -> AsyncIterator[CandleStore]:
        """Yield an open store."""
        s = new_store()
        await s.open()
        await s.open()  # idempotent
        yield s
        await s.close()
        await s.close()  # idempotent

    @pytest.mark.anyio
    async def test_candles_read_back_exactly(self, store: CandleStore) -> None:
        bars = [bar(i) for i in range(5)]
        await store.upsert(BTC, bars)
        got = await read_all(store)
        assert same(got, bars)
        assert str(got[0].volume) == "1.0E-7"  # digits and exponent of Decimal("0.00000010")
        assert str(got[0].high) == "16540.00000"

    @pytest.mark.anyio
    async def test_an_upsert_again_changes_nothing_and_a_new_value_replaces(
        self, store: CandleStore
    ) -> None:
        bars = [bar(i) for i in range(10)]
        await store.upsert(BTC, bars)
        await store.upsert(BTC, bars[3:7])
        assert same(await read_all(store), bars)
        fixed = bar(4, close="16531.00", trades=9)
        await store.upsert(BTC, [fixed])
        got = await read_all(store)
        assert len(got) == 10
        assert got[4] == fixed
        assert got[4].close.as_tuple() == Decimal("16531.00").as_tuple()

    @pytest.mark.anyio
    async def test_series_are_summarized_and_kept_apart(self, store: CandleStore) -> None:
        await store.upsert(BTC, [bar(i) for i in (0, 1, 5)])
        await store.upsert(ETH, [bar(i, series=ETH) for i in (2, 3)])
        infos = await store.series()
        assert [(i.series, i.candles, i.first_ns, i.last_ns) for i in infos] == [
            (BTC, 3, T0, T0 + 5 * MIN),
            (ETH, 2, T0 + 2 * MIN, T0 + 3 * MIN),
        ]
        assert [b.instrument for b in await read_all(store, ETH)] == ["ETH/USD"] * 2

    @pytest.mark.anyio
    async def test_reads_page_by_batch_within_the_window(self, store: CandleStore) -> None:
        await store.upsert(BTC, [bar(i) for i in range(25)])
        batches = [b async for b in store.open_times(BTC, batch=10)]
        assert [len(b) for b in batches] == [10, 10, 5]
        assert [t for b in batches for t in b] == [T0 + i * MIN for i in range(25)]
        window = [
            t
            async for b in store.open_times(
                BTC, start_ns=T0 + 3 * MIN, end_ns=T0 + 13 * MIN, batch=4
            )
            for t in b
        ]
        assert window == [T0 + i * MIN for i in range(3, 13)]
        got = await read_all(store, BTC, start_ns=T0 + 20 * MIN, batch=2)
        assert [b.start_ns for b in got] == [T0 + i * MIN for i in range(20, 25)]

    @pytest.mark.anyio
    async def test_a_backfill_mark_moves_with_its_page_and_only_forward(
        self, store: CandleStore
    ) -> None:
        assert await store.backfill_next(BTC, T0) is None
        await store.upsert(
            BTC, [bar(0), bar(1)], backfill=BackfillMark(start_ns=T0, next_ns=T0 + 2 * MIN)
        )
        assert await store.backfill_next(BTC, T0) == T0 + 2 * MIN
        await store.upsert(BTC, [], backfill=BackfillMark(start_ns=T0, next_ns=T0 + MIN))
        assert await store.backfill_next(BTC, T0) == T0 + 2 * MIN  # never back
        assert await store.backfill_next(BTC, T0 + MIN) is None  # another start, another mark
        assert await store.backfill_next(ETH, T0) is None

    @pytest.mark.anyio
    async def test_a_failed_page_stores_neither_candles_nor_mark(self, store: CandleStore) -> None:
        bad = Bar(
            instrument="BTC/USD",
            start_ns=2**63,
            end_ns=2**63 + MIN,
            open=Decimal(1),
            high=Decimal(1),
            low=Decimal(1),
            close=Decimal(1),
            volume=Decimal(1),
            trades=0,
        )
        with pytest.raises(
            StoreBrokenError, match="failed to upsert 2 candles of kraken BTC/USD 1m"
        ):
            await store.upsert(BTC, [bar(0), bad], backfill=BackfillMark(start_ns=T0, next_ns=T0))
        assert await read_all(store) == []
        assert await store.backfill_next(BTC, T0) is None

    @pytest.mark.anyio
    async def test_a_store_reopens_with_its_candles(self, new_store: CandleStoreFactory) -> None:
        first = new_store()
        await first.open()
        await first.upsert(BTC, [bar(0)], backfill=BackfillMark(start_ns=T0, next_ns=T0 + MIN))
        await first.close()
        second = new_store()
        await second.open()
        try:
            assert await read_all(second) == [bar(0)]
            assert await second.backfill_next(BTC, T0) == T0 + MIN
        finally:
            await second.close()

    @pytest.mark.anyio
    async def test_a_closed_store_refuses_calls(self, new_store: CandleStoreFactory) -> None:
        with pytest.raises(StoreClosedError, match="is not open"):
            await new_store().series()
