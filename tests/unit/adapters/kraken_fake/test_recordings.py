"""The fake's paging follows Kraken's `since` rules, on rows written here (no shared data)."""

from __future__ import annotations

from decimal import Decimal

from adapters.kraken_fake.derived import depth, ticker
from adapters.kraken_fake.recordings import KrakenRecordings


def ohlc(t: int, close: str = "10.0", volume: str = "2.00000000") -> list[object]:
    return [t, "9.0", "11.0", "8.5", close, close, volume, 3]


def trade_row(t: str, i: int) -> list[object]:
    return ["10.00000", "0.50000000", Decimal(t), "b", "m", "", i]


def test_ohlc_pages_after_since_and_names_the_recorded_last_at_the_end() -> None:
    rec = KrakenRecordings()
    rec.add_ohlc("XBTUSDT", 1, [ohlc(60 * i) for i in range(10)], last=480)
    rows, last = rec.ohlc_page("XBTUSDT", 1, since=None, count=4)
    assert [r[0] for r in rows] == [360, 420, 480, 540]  # no since: the latest
    assert last == 480  # the recorded `last`: the final row is still forming
    rows, last = rec.ohlc_page("XBTUSDT", 1, since=60, count=4)
    assert [r[0] for r in rows] == [120, 180, 240, 300]  # strictly after since
    assert last == 300
    assert rec.ohlc_page("XBTUSDT", 1, since=540, count=4) == ([], 480)
    assert rec.ohlc_page("XBTUSDT", 5, since=0, count=4) == ([], 0)


def test_adding_rows_merges_by_time_and_keeps_the_later_last() -> None:
    rec = KrakenRecordings()
    rec.add_ohlc("P", 1, [ohlc(120), ohlc(60)], last=60)
    rec.add_ohlc("P", 1, [ohlc(60, close="12.0"), ohlc(0)], last=0)
    series = rec.ohlc["P", 1]
    assert series.times == [0, 60, 120]
    assert series.rows[1][4] == "12.0"  # a row at a known time replaces it
    assert series.last == 60  # the first recording still ends later


def test_trades_since_takes_seconds_or_a_ns_last_id() -> None:
    rec = KrakenRecordings()
    t = 1_700_000_000
    rows = [
        trade_row(f"{t}.5", 1),
        trade_row(f"{t + 1}.25", 2),
        trade_row(f"{t + 1}.25", 3),
        trade_row(f"{t + 2}.0", 4),
    ]
    rec.add_trades("XBTUSDT", rows, last="1700000002000000001")
    got, last = rec.trades_page("XBTUSDT", since=t + 1, count=1000)
    assert [r[6] for r in got] == [2, 3, 4]  # seconds: at or after
    assert last == "1700000002000000001"  # the recorded `last` at the end
    got, _ = rec.trades_page("XBTUSDT", since=(t + 1) * 10**9 + 250_000_000, count=1000)
    assert [r[6] for r in got] == [4]  # a ns id: after it
    got, _ = rec.trades_page("XBTUSDT", since=None, count=2)
    assert [r[6] for r in got] == [3, 4]  # no since: the latest
    got, last = rec.trades_page("XBTUSDT", since=t, count=2)
    assert last == "1700000001250000000"  # not at the end: the page's last trade, in ns


def test_a_ticker_and_a_book_are_derived_from_recorded_rows() -> None:
    rec = KrakenRecordings()
    rec.add_ohlc("XXBTZUSD", 5, [ohlc(300 * i, close=f"{100 + i}.0") for i in range(3)])
    t = ticker(rec, "XXBTZUSD")
    assert t is not None
    assert t["b"][0] == "102.0"
    assert t["a"][0] == "102.1"  # one tick (pair_decimals 1) above
    assert t["v"] == ["6.00000000", "6.00000000"]
    assert t["t"] == [9, 9]
    assert ticker(rec, "XBTUSDC") is None
    b = depth(rec, "XXBTZUSD", count=3)
    assert b is not None
    assert [lvl[0] for lvl in b["asks"]] == ["102.1", "102.2", "102.3"]
    assert [lvl[0] for lvl in b["bids"]] == ["102.0", "101.9", "101.8"]
    assert {lvl[2] for lvl in b["bids"]} == {600}
