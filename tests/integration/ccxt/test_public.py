"""Real Kraken replies, served by the fake over HTTP, parse through the real ccxt code path.

No mock of ccxt: ccxt builds each request, the fake answers from the recording, ccxt parses,
and `adapters.ccxt.convert` turns the floats into Decimals that equal the replies' own text.
"""

from __future__ import annotations

import functools
import json
from decimal import Decimal
from typing import Any

import anyio
import ccxt
import msgspec
import pytest

from adapters.ccxt import VenueBrokenError, VenueRequestError
from adapters.kraken_fake import FakeKraken, KrakenRecordings, running, serve
from tests.conftest import shared_data
from tests.integration.ccxt.conftest import client

pytestmark = [pytest.mark.anyio, pytest.mark.shared_data]

NS_PER_S = 1_000_000_000
DECODER = msgspec.json.Decoder(float_hook=Decimal)


def static_cases() -> list[dict[str, Any]]:
    path = shared_data("ccxt_static_response_kraken.json")
    methods = json.loads(path.read_text())["methods"]
    return [case for name in ("fetchOHLCV", "fetchTrades", "fetchTicker") for case in methods[name]]


def raw_reply(name: str) -> dict[str, Any]:
    """Decode a recorded reply, JSON floats as Decimal (the text Kraken sent)."""
    return DECODER.decode(shared_data(name).read_bytes())


async def test_ccxt_parses_its_own_static_cases_as_it_expects() -> None:
    for case in static_cases():
        rec = KrakenRecordings()
        rec.add_static_cases({"methods": {case["method"]: [case]}})
        with running(FakeKraken(rec)) as url:
            async with client(url) as data:
                method = getattr(data.exchange, ccxt_name(case["method"]))
                got = await method(*case["input"])
        assert got == case["parsedResponse"], case["description"]


def ccxt_name(method: str) -> str:
    return {"fetchOHLCV": "fetch_ohlcv", "fetchTrades": "fetch_trades"}.get(method, "fetch_ticker")


async def test_the_recorded_ohlc_reply_parses_to_exact_bars(kraken_url: str) -> None:
    rows = raw_reply("kraken_rest_ohlc_xbtusdt_1m.json")["result"]["XBTUSDT"]
    async with client(kraken_url) as data:
        first = await data.fetch_ohlcv("BTC/USDT", timeframe="1m", since_ns=rows[0][0] * NS_PER_S)
        rest = await data.fetch_ohlcv("BTC/USDT", timeframe="1m", since_ns=first[-1].end_ns)
    bars = first + rest
    assert len(first) == 720  # one page: Kraken's 720
    assert len(bars) == len(rows) == 721
    for bar, row in zip(bars, rows, strict=True):
        assert bar.start_ns == row[0] * NS_PER_S
        assert bar.end_ns == bar.start_ns + 60 * NS_PER_S
        assert bar.instrument == "BTC/USDT"
        values = (bar.open, bar.high, bar.low, bar.close, bar.volume)
        for value, text in zip(values, (row[1], row[2], row[3], row[4], row[6]), strict=True):
            assert type(value) is Decimal
            assert value == Decimal(text), (row, value)


async def test_the_recorded_trades_reply_parses_to_exact_trades(kraken_url: str) -> None:
    rows = raw_reply("kraken_rest_trades_xbtusdt.json")["result"]["XBTUSDT"]
    async with client(kraken_url) as data:
        trades = await data.fetch_trades("BTC/USDT")
    assert len(trades) == len(rows) == 1000
    for (ts, trade), row in zip(trades, rows, strict=True):
        assert ts == int(row[2] * 1000) * 1_000_000  # ccxt keeps milliseconds
        assert (trade.price, trade.size) == (Decimal(row[0]), Decimal(row[1]))
        assert trade.side == {"b": "buy", "s": "sell"}[row[3]]
        assert trade.trade_id == str(row[6])


async def test_trades_page_from_since(kraken_url: str) -> None:
    rows = raw_reply("kraken_rest_trades_xbtusdt.json")["result"]["XBTUSDT"]
    since_ns = int(rows[500][2]) * NS_PER_S  # a whole second: Kraken's `since` unit from ccxt
    async with client(kraken_url) as data:
        trades = await data.fetch_trades("BTC/USDT", since_ns=since_ns, limit=5)
    assert len(trades) == 5
    assert all(ts >= since_ns for ts, _ in trades)
    first = next(i for i, r in enumerate(rows) if int(r[2] * NS_PER_S) >= since_ns)
    assert [t.trade_id for _, t in trades] == [str(r[6]) for r in rows[first : first + 5]]


async def test_ticker_and_book(kraken_url: str, fake: FakeKraken) -> None:
    recorded = fake.recordings.tickers["XBTUSDT"]
    async with client(kraken_url) as data:
        _, q = await data.fetch_ticker("BTC/USDT")
        _, deltas = await data.fetch_order_book("BTC/USDT", depth=10)
        _, usd = await data.fetch_ticker("BTC/USD")  # derived from the OHLCVT history
    assert (q.bid, q.bid_size) == (Decimal(recorded["b"][0]), Decimal(recorded["b"][2]))
    assert (q.ask, q.ask_size) == (Decimal(recorded["a"][0]), Decimal(recorded["a"][2]))
    bids = [d for d in deltas if d.side == "bid"]
    asks = [d for d in deltas if d.side == "ask"]
    assert len(bids) == len(asks) == 10
    assert bids[0].price == q.bid and asks[0].price == q.ask
    assert [d.price for d in bids] == sorted((d.price for d in bids), reverse=True)
    assert usd.bid == Decimal("28466.8")  # the file's last close


async def test_requests_the_venue_cannot_serve_are_refused(kraken_url: str) -> None:
    async with client(kraken_url) as data:
        with pytest.raises(VenueRequestError, match="`symbol` 'DOGE/EUR' is not listed"):
            await data.fetch_ohlcv("DOGE/EUR", timeframe="1m")
        with pytest.raises(VenueRequestError, match="`timeframe` must be one of"):
            await data.fetch_ohlcv("BTC/USD", timeframe="7m")
    with pytest.raises(VenueRequestError, match="`exchange` must be a ccxt exchange id"):
        await client(kraken_url, exchange="nope").open()


async def test_network_failures_are_retried_then_broken(kraken_url: str, fake: FakeKraken) -> None:
    async with client(kraken_url, retries=2) as data:
        fake.fail_after, fake.fail_count = fake.served, 2  # a transient outage: two 503s
        bars = await data.fetch_ohlcv("BTC/USD", timeframe="5m", since_ns=1_672_531_200 * NS_PER_S)
        assert len(bars) == 720
        assert [m for m, _ in fake.requests][-3:] == ["OHLC"] * 3
        fake.fail_after, fake.fail_count = fake.served, None  # down for good
        with pytest.raises(VenueBrokenError, match="after 3 attempts") as info:
            await data.fetch_ohlcv("BTC/USD", timeframe="5m")
        assert isinstance(info.value.__cause__, ccxt.ExchangeNotAvailable)
    with pytest.raises(VenueBrokenError, match="failed to load markets after 1 attempts"):
        await client("http://127.0.0.1:1", retries=0).open()


async def test_the_fake_also_serves_in_the_callers_event_loop(recordings: KrakenRecordings) -> None:
    fake = FakeKraken(recordings)
    async with anyio.create_task_group() as tg:
        url = await tg.start(functools.partial(serve, fake))
        async with client(url) as data:
            _, quote = await data.fetch_ticker("BTC/USDC")
        tg.cancel_scope.cancel()
    assert quote.bid == Decimal("28485.09")
