"""ccxt's floats become exact Decimals; ccxt's structures become our messages."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.ccxt.convert import bars, book, exact, quote, trade
from adapters.ccxt.data import point_api_at
from adapters.ccxt.errors import VenueBrokenError

MIN_MS = 60_000


@given(
    st.decimals(
        min_value=Decimal("1E-8"), max_value=Decimal("1E9"), places=8, allow_nan=False
    ).filter(lambda d: len(d.normalize().as_tuple().digits) <= 15)
)
def test_a_venue_number_of_up_to_15_digits_survives_float(text: Decimal) -> None:
    # What ccxt does to a venue's string ("105433.60000" -> float), undone by `exact`.
    assert exact(float(str(text)), field="price") == text


def test_exact_keeps_strings_and_ints_and_refuses_the_rest() -> None:
    assert exact("73324.40000", field="p").as_tuple() == Decimal("73324.40000").as_tuple()
    assert exact(7, field="p") == 7
    assert str(exact(9.443e-05, field="amount")) == "0.00009443"
    for bad in (None, True, "abc", float("nan"), float("inf"), [1]):
        with pytest.raises(VenueBrokenError, match="`price` must be a"):
            exact(bad, field="price")


def test_bars_are_stamped_open_to_close_on_the_grid() -> None:
    rows = [[1_672_531_200_000, 16535.97, 16536.0, 16522.66, 16522.66, 0.01429883]]
    (b,) = bars(rows, symbol="BTC/USDC", timeframe_ns=MIN_MS * 1_000_000)
    assert (b.start_ns, b.end_ns) == (1_672_531_200 * 10**9, 1_672_531_260 * 10**9)
    assert (b.open, b.volume, b.trades) == (Decimal("16535.97"), Decimal("0.01429883"), 0)


@pytest.mark.parametrize(
    "rows",
    [
        [[1_672_531_230_000, 1, 1, 1, 1, 1]],  # off the minute grid
        [[1_672_531_260_000, 1, 1, 1, 1, 1], [1_672_531_200_000, 1, 1, 1, 1, 1]],  # backwards
        [[1_672_531_200_000, 1, 1, 1, 1]],  # short
        [[1_672_531_200_000, 1, 1, 1, 1, None]],  # no volume
    ],
)
def test_bad_ohlcv_rows_are_refused(rows: list[list[object]]) -> None:
    with pytest.raises(VenueBrokenError):
        bars(rows, symbol="X", timeframe_ns=MIN_MS * 1_000_000)


def test_trade_quote_and_book() -> None:
    ts, t = trade(
        {
            "id": "6324366",
            "timestamp": 1710327959173,
            "side": "buy",
            "price": 73324.4,
            "amount": 0.010309,
        },
        symbol="BTC/USDT",
    )
    assert ts == 1710327959173 * 1_000_000
    assert (t.price, t.size, t.side, t.trade_id) == (
        Decimal("73324.4"),
        Decimal("0.010309"),
        "buy",
        "6324366",
    )
    ts, q = quote(
        {"timestamp": None, "bid": 73380.6, "bidVolume": 1.0, "ask": 73380.7, "askVolume": None},
        symbol="BTC/USDT",
        received_ns=42,
    )
    assert ts == 42
    assert (q.bid, q.bid_size, q.ask, q.ask_size) == (
        Decimal("73380.6"),
        Decimal("1.0"),
        Decimal("73380.7"),
        Decimal(0),
    )
    ts, deltas = book(
        {"timestamp": 5, "bids": [[2.0, 1.5, 9]], "asks": [[3.0, 0.25, 9], [4.0, 1e-08, 9]]},
        symbol="X",
        received_ns=42,
    )
    assert ts == 5_000_000
    assert [(d.side, d.price, d.size) for d in deltas] == [
        ("bid", Decimal("2.0"), Decimal("1.5")),
        ("ask", Decimal("3.0"), Decimal("0.25")),
        ("ask", Decimal("4.0"), Decimal("1E-8")),
    ]


def test_point_api_at_replaces_every_origin_and_keeps_paths() -> None:
    urls = {
        "public": "https://api.kraken.com",
        "nested": {"v3": "https://api.binance.com/api/v3?x=1"},
        "n": 3,
    }
    assert point_api_at(urls, "http://127.0.0.1:8788") == {
        "public": "http://127.0.0.1:8788",
        "nested": {"v3": "http://127.0.0.1:8788/api/v3?x=1"},
        "n": 3,
    }
    assert point_api_at("https://x.example/v1", "http://h:1/base/") == "http://h:1/base/v1"
