"""Every reader parses its real file: row counts per the data README, order, exact prices."""

from __future__ import annotations

import gzip
import itertools
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from adapters.feeds import FeedBrokenError, read_candles, read_trades
from adapters.feeds.binance_ws import read_binance_feed
from adapters.feeds.files import CandleFormat
from agents.data.gaps import find_gaps, missing_total
from agents.data.messages import Bar, BookDelta, Quote, Trade
from tests.conftest import shared_data

pytestmark = pytest.mark.shared_data

CANDLE_FILES: list[tuple[str, CandleFormat, int, int]] = [
    ("binance_btcusdt_1m_20250520_20250818.csv.gz", "binance_csv", 60, 130_708),
    ("binance_ethusdt_1m_20250520_20250818.csv.gz", "binance_csv", 60, 130_708),
    ("binance_btcusdt_5m_20240301_20250702.csv.gz", "binance_csv", 300, 140_614),
    ("kraken_xbtusdc_1m_2023q1_ohlcvt.csv.gz", "kraken_ohlcvt", 60, 56_717),
    ("kraken_xbtusd_5m_2023q1_ohlcvt.csv.gz", "kraken_ohlcvt", 300, 25_901),
    ("ftx_btcperp_1m_20211231_20220201.csv.gz", "ftx_csv", 60, 45_031),
]


def same_decimal(value: Decimal, text: str) -> bool:
    """Tell whether `value` is `Decimal(text)` exactly: same digits and exponent, not just =="""
    return value.as_tuple() == Decimal(text.strip()).as_tuple()


@pytest.mark.parametrize(("name", "fmt", "tf", "rows"), CANDLE_FILES)
def test_candle_files_parse_in_order_with_exact_prices(
    name: str, fmt: CandleFormat, tf: int, rows: int
) -> None:
    path = shared_data(name)
    with gzip.open(path, "rt") as f:
        lines = f.read().splitlines()
    if fmt != "kraken_ohlcvt":
        lines = lines[1:]  # header
    assert len(lines) == rows
    last = -1
    n = 0
    for (ts, bar), line in itertools.zip_longest(
        read_candles(path, format=fmt, instrument="BTC/USDT", timeframe_secs=tf), lines
    ):
        n += 1
        fields = line.split(",")
        assert isinstance(bar, Bar)
        assert ts > last
        assert ts == bar.end_ns == bar.start_ns + tf * 1_000_000_000  # stamped at the close
        last = ts
        for value, text in zip(
            (bar.open, bar.high, bar.low, bar.close, bar.volume), fields[1:6], strict=True
        ):
            assert type(value) is Decimal
            assert same_decimal(value, text), (n, value, text)
        if fmt == "kraken_ohlcvt":
            assert bar.trades == int(fields[6])
    assert n == rows


def test_candle_times_are_utc() -> None:
    (ts, bar), *_ = itertools.islice(
        read_candles(
            shared_data("ftx_btcperp_1m_20211231_20220201.csv.gz"),
            format="ftx_csv",
            instrument="BTC-PERP",
            timeframe_secs=60,
        ),
        1,
    )
    assert bar.start_ns == 1_640_991_660 * 10**9  # 2021-12-31 23:01:00 UTC
    assert ts == bar.start_ns + 60 * 10**9
    (_, first), *_ = itertools.islice(
        read_candles(
            shared_data("binance_btcusdt_1m_20250520_20250818.csv.gz"),
            format="binance_csv",
            instrument="BTC/USDT",
            timeframe_secs=60,
        ),
        1,
    )
    assert first.start_ns == 1_747_699_200_000 * 10**6  # 2025-05-20 00:00 UTC
    assert first.open == Decimal("105573.73")


def test_kraken_trades_csv() -> None:
    path = shared_data("kraken_btcusdt_trades_20231117_20231122.csv.gz")
    with gzip.open(path, "rt") as f:
        lines = f.read().splitlines()[1:]
    trades = list(read_trades(path, format="kraken_trades_csv", instrument="BTC/USDT"))
    assert len(trades) == len(lines) == 26_921
    for (ts, trade), line in zip(trades, lines, strict=True):
        ts_ms, tid, _type, side, price, amount, _cost = line.split(",")
        assert ts == int(ts_ms) * 1_000_000
        assert isinstance(trade, Trade)
        assert trade.trade_id == tid and trade.side == side
        assert same_decimal(trade.price, price) and same_decimal(trade.size, amount)
    # Several trades share a millisecond (one taker order, several makers): times never
    # decrease and the venue's ids strictly increase.
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(trades))
    assert all(int(a[1].trade_id) < int(b[1].trade_id) for a, b in itertools.pairwise(trades))


def test_kraken_rest_ohlc_drops_the_candle_still_forming() -> None:
    path = shared_data("kraken_rest_ohlc_xbtusdt_1m.json")
    reply = msgspec.json.decode(path.read_bytes())
    raw = reply["result"]["XBTUSDT"]
    assert len(raw) == 721
    bars = list(
        read_candles(path, format="kraken_rest_ohlc", instrument="BTC/USDT", timeframe_secs=60)
    )
    assert len(bars) == 720
    assert bars[-1][1].start_ns == reply["result"]["last"] * 10**9
    assert all(a[0] < b[0] for a, b in itertools.pairwise(bars))
    for (ts, bar), row in zip(bars, raw, strict=False):
        assert ts == (row[0] + 60) * 10**9
        assert [str(bar.open), str(bar.high), str(bar.low), str(bar.close)] == row[1:5]
        assert same_decimal(bar.volume, row[6]) and bar.trades == row[7]
    assert find_gaps((b.start_ns for _, b in bars), 60 * 10**9) == []


def test_kraken_rest_trades_keep_exact_times() -> None:
    path = shared_data("kraken_rest_trades_xbtusdt.json")
    text = path.read_text()
    trades = list(read_trades(path, format="kraken_rest_trades", instrument="BTC/USDT"))
    assert len(trades) == 1_000
    ts, first = trades[0]
    assert ts == 1_762_795_433_971_744_500  # 1762795433.9717445 s, not a float's rounding
    assert "1762795433.9717445" in text
    assert first.price == Decimal("105433.60000") and str(first.price) == "105433.60000"
    assert first.side == "buy" and first.trade_id == "10218208"
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(trades))
    assert {t.side for _, t in trades} == {"buy", "sell"}


def test_binance_feed_quotes_and_trades() -> None:
    paths = [
        shared_data("binance_btcusdt_feed_20240808_2354.gz"),
        shared_data("binance_btcusdt_feed_20240809_0000.gz"),
    ]
    lines = 0
    for p in paths:
        with gzip.open(p, "rb") as f:
            lines += sum(1 for _ in f)
    assert lines == 99_574
    events = list(read_binance_feed(paths, instrument="BTC/USDT"))
    trades = [m for _, m in events if isinstance(m, Trade)]
    quotes = [m for _, m in events if isinstance(m, Quote)]
    assert len(trades) == 19_904
    assert len(quotes) == 73_174  # every bookTicker line
    assert len(events) == len(trades) + len(quotes)
    assert all(a[0] < b[0] for a, b in itertools.pairwise(events))  # one message per line
    ts, q = next((ts, m) for ts, m in events if isinstance(m, Quote))
    assert ts == 1_723_161_254_087_891_268
    assert (str(q.bid), str(q.bid_size), str(q.ask)) == (
        "61837.63000000",
        "3.78826000",
        "61837.64000000",
    )
    first_trade = trades[0]
    assert first_trade.side == "sell"  # "m": true, the buyer was the maker
    assert first_trade.trade_id == "3735683259" and str(first_trade.size) == "0.02000000"
    assert all(q.bid < q.ask for q in quotes)


def test_binance_feed_depth_starts_at_the_snapshot() -> None:
    paths = [
        shared_data("binance_btcusdt_feed_20240808_2354.gz"),
        shared_data("binance_btcusdt_feed_20240809_0000.gz"),
    ]
    book: dict[tuple[str, Decimal], Decimal] = {}
    deltas = 0
    checked = 0
    for _, m in read_binance_feed(paths, instrument="BTC/USDT", depth=True):
        if isinstance(m, BookDelta):
            deltas += 1
            if m.size:
                book[m.side, m.price] = m.size
            else:
                book.pop((m.side, m.price), None)
        elif isinstance(m, Quote) and book:
            bid = max(p for s, p in book if s == "bid")
            ask = min(p for s, p in book if s == "ask")
            assert bid < ask  # a book rebuilt from the deltas never crosses
            checked += 1
            if checked > 2_000:
                break
    assert deltas > 1_000


def test_a_bad_row_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("ts_ms,open,high,low,close,volume\n0,1,1,1,1,1\n60000,1,x,1,1,1\n")
    with pytest.raises(FeedBrokenError, match=r"c.csv: line 3 does not parse: '60000,1,x,1,1,1'"):
        list(read_candles(path, format="binance_csv", instrument="X", timeframe_secs=60))


def test_time_going_backwards_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("60,1,1,1,1,1,1\n0,1,1,1,1,1,1\n")
    with pytest.raises(FeedBrokenError, match="line 2: timestamps must increase"):
        list(read_candles(path, format="kraken_ohlcvt", instrument="X", timeframe_secs=60))


def test_kraken_5m_reports_its_5_gaps_and_the_sparse_1m_file_many() -> None:
    five = read_candles(
        shared_data("kraken_xbtusd_5m_2023q1_ohlcvt.csv.gz"),
        format="kraken_ohlcvt",
        instrument="XBT/USD",
        timeframe_secs=300,
    )
    gaps = find_gaps((bar.start_ns for _, bar in five), 300 * 10**9)
    assert len(gaps) == 5
    one = read_candles(
        shared_data("kraken_xbtusdc_1m_2023q1_ohlcvt.csv.gz"),
        format="kraken_ohlcvt",
        instrument="XBT/USDC",
        timeframe_secs=60,
    )
    sparse = find_gaps((bar.start_ns for _, bar in one), 60 * 10**9)
    assert len(sparse) > 10_000  # only minutes with trades are printed
    # 56,717 candles + the missing ones fill the span from the first open to the last.
    assert 56_717 + missing_total(sparse) == (1_680_307_140 - 1_672_531_200) // 60 + 1
