"""Backfill, resume, sync and gaps: ccxt over HTTP to the fake, into a real SQLite candle store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.ccxt import CandleSync, VenueBrokenError
from adapters.feeds import read_candles
from adapters.kraken_fake import FakeKraken
from adapters.stores.candles import Series
from adapters.stores.candles_sqlite import SqliteCandleStore
from agents.data.gaps import find_gaps, missing_total
from agents.data.messages import Bar
from tests.conftest import shared_data
from tests.integration.ccxt.conftest import client

pytestmark = [pytest.mark.anyio, pytest.mark.shared_data]

S = 1_000_000_000
JAN_1 = 1_672_531_200 * S  # 2023-01-01T00:00Z
USDC = Series(exchange="kraken", symbol="BTC/USDC", timeframe="1m")
USD = Series(exchange="kraken", symbol="BTC/USD", timeframe="5m")
USDT = Series(exchange="kraken", symbol="BTC/USDT", timeframe="1m")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteCandleStore]:
    s = SqliteCandleStore(tmp_path / "candles.db")
    await s.open()
    yield s
    await s.close()


def job(store: SqliteCandleStore, url: str, **options: object) -> CandleSync:
    return CandleSync(store, lambda ex: client(url, exchange=ex, **options))


async def read_all(store: SqliteCandleStore, series: Series) -> list[Bar]:
    return [b async for batch in store.read(series) for b in batch]


def ohlc_since(fake: FakeKraken) -> list[int]:
    return [int(p["since"]) for m, p in fake.requests if m == "OHLC"]


async def test_a_backfill_stores_the_sparse_file_exactly_and_reports_its_gaps(
    store: SqliteCandleStore, kraken_url: str
) -> None:
    async with job(store, kraken_url) as j:
        report = await j.backfill(USDC, start_ns=JAN_1)
        (gaps,) = await j.gaps(symbol="BTC/USDC")
    assert (report.candles, report.pages, report.resumed_ns) == (56_717, 79, None)
    stored = await read_all(store, USDC)
    path = shared_data("kraken_xbtusdc_1m_2023q1_ohlcvt.csv.gz")
    from_file = [
        b
        for _, b in read_candles(
            path, format="kraken_ohlcvt", instrument="BTC/USDC", timeframe_secs=60
        )
    ]
    assert len(stored) == len(from_file)
    for got, want in zip(stored, from_file, strict=True):
        assert (got.start_ns, got.end_ns) == (want.start_ns, want.end_ns)
        assert (got.open, got.high, got.low, got.close, got.volume) == (
            want.open,
            want.high,
            want.low,
            want.close,
            want.volume,
        )
    expected = find_gaps([b.start_ns for b in from_file], 60 * S)
    assert (len(gaps.gaps), gaps.missing) == (26_746, 72_883)  # as docs/data.md says
    assert gaps.gaps == expected
    assert missing_total(expected) == gaps.missing


async def test_an_interrupted_backfill_resumes_without_duplicates(
    tmp_path: Path, store: SqliteCandleStore, kraken_url: str, fake: FakeKraken
) -> None:
    fake.fail_after = 2 + 10  # Assets and AssetPairs, then 10 pages of 720, then 503s
    async with job(store, kraken_url, retries=0) as j:
        with pytest.raises(VenueBrokenError, match="failed to fetch 5m candles of BTC/USD"):
            await j.backfill(USD, start_ns=JAN_1)
    partial = await read_all(store, USD)
    assert len(partial) == 7200
    mark = await store.backfill_next(USD, JAN_1)
    assert mark == partial[-1].end_ns  # the page and its mark committed together

    fake.fail_after = None
    fake.requests.clear()
    async with job(store, kraken_url) as j:
        report = await j.backfill(USD, start_ns=JAN_1)
    assert report.resumed_ns == mark
    assert report.candles == 25_901 - 7200
    # ccxt asks Kraken for candles after `since - interval`: the first one after the mark.
    assert ohlc_since(fake)[0] == mark // S - 300
    resumed = await read_all(store, USD)
    assert len(resumed) == len({b.start_ns for b in resumed}) == 25_901

    clean = SqliteCandleStore(tmp_path / "clean.db")
    await clean.open()
    try:
        async with job(clean, kraken_url) as j:
            await j.backfill(USD, start_ns=JAN_1)
        assert await read_all(clean, USD) == resumed  # the same rows as an uninterrupted run
    finally:
        await clean.close()

    async with job(store, kraken_url) as j:
        again = await j.backfill(USD, start_ns=JAN_1)
    assert (again.candles, again.resumed_ns) == (0, report.next_ns)  # nothing newer: done
    assert len(await read_all(store, USD)) == 25_901


async def test_until_sync_and_small_pages(
    store: SqliteCandleStore, kraken_url: str, fake: FakeKraken
) -> None:
    fake.ohlc_page = 100
    first = fake.recordings.ohlc["XBTUSDT", 1].times[0] * S
    until = first + 250 * 60 * S + 30 * S  # not on the grid: candles opening before it
    async with job(store, kraken_url) as j:
        report = await j.backfill(USDT, start_ns=first - 30 * S, end_ns=until)
        assert (report.start_ns, report.candles, report.pages) == (first, 251, 3)
        (synced,) = await j.sync()
    assert synced.start_ns == first + 251 * 60 * S
    assert synced.candles == 721 - 251
    bars = await read_all(store, USDT)
    assert [b.start_ns for b in bars] == [first + i * 60 * S for i in range(721)]
    assert bars[0].close == Decimal("106038.2")


async def test_gaps_over_a_span_count_a_missing_head_and_tail(
    store: SqliteCandleStore, kraken_url: str
) -> None:
    async with job(store, kraken_url) as j:
        await j.backfill(USD, start_ns=JAN_1)
        (inside,) = await j.gaps(exchange="kraken", timeframe="5m")
        hour = 3600 * S
        (span,) = await j.gaps(start_ns=JAN_1 - hour, end_ns=1_680_307_200 * S + hour)
        assert await j.gaps(symbol="ETH/USD") == []
    assert (len(inside.gaps), inside.missing) == (5, 19)  # the 5m file's 5 gaps, 19 candles
    assert (len(span.gaps), span.missing) == (7, 19 + 12 + 12)
    assert span.gaps[0].start_ns == JAN_1 - hour
