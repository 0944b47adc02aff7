"""The matching engine: touch and through, taker on arrival, latency, volume share, trades, quotes,
and the Avellaneda-Stoikov fill model."""

from __future__ import annotations

import math
import random
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.venues.simulated.config import PoissonFillConfig, SimulatedVenueConfig
from adapters.venues.simulated.matching import Book, Match, Matcher, RestingOrder

D = Decimal
MIN = 60 * 10**9


def order(
    cid: str = "c1",
    side: Literal["buy", "sell"] = "buy",
    price: str | None = "99",
    qty: str = "1",
    *,
    active_ns: int = 0,
    tif: Literal["gtc", "ioc"] = "gtc",
    arrived: bool = False,
) -> RestingOrder:
    return RestingOrder(
        client_id=cid,
        strategy="s",
        instrument="BTC/USDT",
        side=side,
        price=None if price is None else D(price),
        leaves=D(qty),
        active_ns=active_ns,
        venue_order_id=f"v-{cid}",
        tif=tif,
        arrived=arrived,
    )


def book_of(*orders: RestingOrder) -> dict[str, RestingOrder]:
    book = Book()
    for o in orders:
        book.add(o)
    return book.orders.get("BTC/USDT", {})


def matcher(seed: int = 0, **params: Any) -> Matcher:
    return Matcher(SimulatedVenueConfig(**params), random.Random(seed))


def bar(
    m: Matcher,
    book: dict[str, RestingOrder],
    o: str,
    h: str,
    lo: str,
    c: str,
    *,
    v: str = "10",
    start_ns: int = 0,
) -> list[Match]:
    return m.bar(book, start_ns=start_ns, open_=D(o), high=D(h), low=D(lo), close=D(c), volume=D(v))


def settle(book: dict[str, RestingOrder], matches: list[Match]) -> None:
    """Apply matches as the venue does: reduce what rests, drop what filled."""
    for m in matches:
        m.order.leaves -= m.qty
        if m.order.leaves <= 0:
            del book[m.order.client_id]


def fills(matches: list[Match]) -> list[tuple[str, Decimal, Decimal, str]]:
    return [(m.order.client_id, m.qty, m.price, m.liquidity) for m in matches]


# -- bars: touch and through ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "low", "fills_"),
    [("touch", "99", True), ("touch", "98.5", True), ("through", "99", False),
     ("through", "98.99", True), ("touch", "99.01", False)],
)  # fmt: skip
def test_a_resting_buy_limit_fills_at_its_price_by_the_fill_model(
    model: str, low: str, fills_: bool
) -> None:
    m = matcher(fill_model=model)
    book = book_of(order(price="99", qty="2"))
    assert bar(m, book, "100", "101", "99.5", "100") == []  # arrival: not marketable, rests
    got = bar(m, book, "100", "100.5", low, "99.5", start_ns=MIN)
    assert fills(got) == ([("c1", D(2), D(99), "maker")] if fills_ else [])


@pytest.mark.parametrize(
    ("model", "high", "fills_"),
    [("touch", "101", True), ("through", "101", False), ("through", "101.01", True)],
)
def test_a_resting_sell_limit_mirrors_the_buy(model: str, high: str, fills_: bool) -> None:
    m = matcher(fill_model=model)
    book = book_of(order(side="sell", price="101"))
    assert bar(m, book, "100", "100.5", "99", "100") == []
    got = bar(m, book, "100", high, "99.5", "100", start_ns=MIN)
    assert fills(got) == ([("c1", D(1), D(101), "maker")] if fills_ else [])


@pytest.mark.parametrize(
    ("side", "price"),
    [("buy", "105"), ("buy", "100"), ("buy", None), ("sell", "95"), ("sell", "100"),
     ("sell", None)],
)  # fmt: skip
def test_an_order_marketable_on_arrival_takes_at_the_bar_open(
    side: Literal["buy", "sell"], price: str | None
) -> None:
    m = matcher()
    book = book_of(order(side=side, price=price))
    got = bar(m, book, "100", "106", "94", "100")
    assert fills(got) == [("c1", D(1), D(100), "taker")]


def test_only_the_first_bar_an_order_meets_can_make_it_a_taker() -> None:
    m = matcher()
    book = book_of(order(price="99"))
    assert bar(m, book, "100", "100", "99.5", "100") == []
    # Later the market opens below the limit: the order rested, so it fills at its own price.
    assert fills(bar(m, book, "98", "98", "97", "98", start_ns=MIN)) == [
        ("c1", D(1), D(99), "maker")
    ]


# -- latency ----------------------------------------------------------------------------------


def test_an_order_active_after_a_bar_opened_waits_for_the_next_bar() -> None:
    m = matcher()
    late = order(price="100", active_ns=MIN + 1)
    book = book_of(late)
    # The bar opened at 1 min, before the order was active: it does not match, even if it
    # traded through the limit, and does not count as the order's arrival.
    assert bar(m, book, "99", "99", "98", "99", start_ns=MIN) == []
    assert not late.arrived
    got = bar(m, book, "99.5", "99.5", "99", "99.5", start_ns=2 * MIN)
    assert fills(got) == [("c1", D(1), D("99.5"), "taker")]


def test_an_order_active_exactly_at_a_bar_open_matches_that_bar() -> None:
    m = matcher()
    book = book_of(order(price="100", active_ns=MIN))
    assert fills(bar(m, book, "99", "99", "99", "99", start_ns=MIN)) == [
        ("c1", D(1), D(99), "taker")
    ]


# -- volume share -----------------------------------------------------------------------------

QTY = st.decimals(min_value=D("0.01"), max_value=D("20"), places=2)
VOLUMES = st.lists(st.decimals(min_value=D(0), max_value=D(50), places=3), min_size=1, max_size=12)
SHARE = st.decimals(min_value=D("0.01"), max_value=D(1), places=2)


@settings(max_examples=200, deadline=None)
@given(q1=QTY, q2=QTY, volumes=VOLUMES, share=SHARE, market=st.booleans())
def test_volume_share_caps_every_bar_and_fills_the_whole_order_over_bars(
    q1: Decimal, q2: Decimal, volumes: list[Decimal], share: Decimal, market: bool
) -> None:
    lot = D("0.00000001")
    m = matcher(volume_share=share)
    price = None if market else "100"
    first, second = order("c1", price=price, qty=str(q1)), order("c2", price=price, qty=str(q2))
    book = book_of(first, second)
    got: dict[str, Decimal] = {"c1": D(0), "c2": D(0)}
    budgets = D(0)
    for i, v in enumerate(volumes):
        budget = (v * share).quantize(lot, ROUND_DOWN)
        budgets += budget
        matches = bar(m, book, "100", "100", "99", "100", v=str(v), start_ns=i * MIN)
        assert sum((x.qty for x in matches), D(0)) <= budget
        assert all(x.qty > 0 for x in matches)
        # Time priority: the second order fills only once the first has nothing left.
        if any(x.order is second for x in matches):
            assert got["c1"] + sum(x.qty for x in matches if x.order is first) == q1
        for x in matches:
            got[x.order.client_id] += x.qty
        settle(book, matches)
    assert got["c1"] <= q1 and got["c2"] <= q2
    assert got["c1"] + got["c2"] == min(q1 + q2, budgets)


def test_what_a_volume_cap_leaves_of_a_market_order_takes_at_later_events_as_taker() -> None:
    m = matcher(volume_share=D("0.1"))
    book = book_of(order("b", price=None, qty="1"))
    first = bar(m, book, "100", "100", "99", "100", v="6")
    assert fills(first) == [("b", D("0.6"), D(100), "taker")]
    settle(book, first)
    second = bar(m, book, "101", "101", "99", "100", v="6", start_ns=MIN)  # not stranded
    assert fills(second) == [("b", D("0.4"), D(101), "taker")]
    m = matcher(volume_share=D("0.5"))
    book = book_of(order("s", side="sell", price=None, qty="1"))
    settle(book, m.trade(book, ts=0, price=D(100), size=D(1)))
    assert fills(m.trade(book, ts=1, price=D(99), size=D(4))) == [("s", D("0.5"), D(99), "taker")]
    book = book_of(order("q", price=None, qty="2"))
    settle(book, m.quote(book, ts=0, bid=D(99), bid_size=D(9), ask=D(100), ask_size=D(2)))
    got = m.quote(book, ts=1, bid=D(100), bid_size=D(9), ask=D(101), ask_size=D(9))
    assert fills(got) == [("q", D(1), D(101), "taker")]


def test_a_volume_share_fill_rounds_down_to_the_lot() -> None:
    m = matcher(volume_share=D("0.1"), lot=D("0.01"))
    book = book_of(order(price="100", qty="5"))
    assert [x.qty for x in bar(m, book, "100", "100", "99", "100", v="1.239")] == [D("0.12")]


# -- trades -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "print_", "fills_"),
    [("touch", "99", True), ("touch", "99.01", False), ("through", "99", False),
     ("through", "98.99", True)],
)  # fmt: skip
def test_a_resting_buy_fills_on_a_trade_at_or_through_its_price(
    model: str, print_: str, fills_: bool
) -> None:
    m = matcher(fill_model=model)
    book = book_of(order(price="99"))
    assert m.trade(book, ts=0, price=D(100), size=D(5)) == []
    got = m.trade(book, ts=1, price=D(print_), size=D(5))
    assert fills(got) == ([("c1", D(1), D(99), "maker")] if fills_ else [])


def test_a_trade_fills_a_resting_sell_at_its_price_and_a_marketable_order_at_the_print() -> None:
    m = matcher()
    resting = order("c1", side="sell", price="101", arrived=True)
    new = order("c2", side="buy", price="102")
    book = book_of(resting, new)
    assert fills(m.trade(book, ts=0, price=D("101.5"), size=D(5))) == [
        ("c1", D(1), D(101), "maker"),
        ("c2", D(1), D("101.5"), "taker"),
    ]


def test_a_trade_matches_only_orders_active_at_its_time_and_caps_by_its_size() -> None:
    m = matcher(volume_share=D("0.5"))
    book = book_of(order("c1", qty="3", active_ns=10), order("c2", price=None, active_ns=20))
    assert m.trade(book, ts=9, price=D(98), size=D(4)) == []
    assert fills(m.trade(book, ts=10, price=D(98), size=D(4))) == [("c1", D(2), D(98), "taker")]


# -- quotes -----------------------------------------------------------------------------------


def test_a_marketable_order_takes_the_far_side_of_the_quote() -> None:
    m = matcher()
    book = book_of(order("b", side="buy", price=None), order("s", side="sell", price="99"))
    got = m.quote(book, ts=0, bid=D("99.5"), bid_size=D(3), ask=D("100.5"), ask_size=D(3))
    assert fills(got) == [("b", D(1), D("100.5"), "taker"), ("s", D(1), D("99.5"), "taker")]


def test_resting_orders_fill_when_the_quote_reaches_them() -> None:
    m = matcher()
    buy, sell = order("b", side="buy", price="99"), order("s", side="sell", price="101")
    book = book_of(buy, sell)
    assert m.quote(book, ts=0, bid=D("99.5"), bid_size=D(3), ask=D("100.5"), ask_size=D(3)) == []
    # The ask falls to the buy's price; the bid has not reached the sell.
    got = m.quote(book, ts=1, bid=D("98.5"), bid_size=D(3), ask=D(99), ask_size=D(3))
    assert fills(got) == [("b", D(1), D(99), "maker")]
    settle(book, got)
    got = m.quote(book, ts=2, bid=D(101), bid_size=D(3), ask=D("101.5"), ask_size=D(3))
    assert fills(got) == [("s", D(1), D(101), "maker")]


def test_quote_sizes_cap_each_side_separately() -> None:
    m = matcher(volume_share=D("0.5"))
    book = book_of(order("b", side="buy", price=None, qty="5"), order("s", side="sell", price=None,
                                                                      qty="5"))  # fmt: skip
    got = m.quote(book, ts=0, bid=D(99), bid_size=D(2), ask=D(100), ask_size=D(6))
    assert [(x.order.client_id, x.qty) for x in got] == [("b", D(3)), ("s", D(1))]


# -- poisson (Avellaneda-Stoikov) -------------------------------------------------------------


def poisson_rate(matches: int, trials: int) -> float:
    return matches / trials


def as_probability(cfg: PoissonFillConfig, delta: float) -> float:
    return min(1.0, cfg.A * math.exp(-cfg.k * delta) * cfg.dt)


@pytest.mark.parametrize("event", ["bar", "trade", "quote"])
def test_poisson_fills_a_resting_quote_with_the_as_probability(event: str) -> None:
    cfg = PoissonFillConfig()
    m = matcher(seed=7, fill_model="poisson", poisson=cfg)
    p = as_probability(cfg, 1.0)  # a buy at 99 against a reference (close, print, mid) of 100
    assert 0.05 < p < 0.5
    trials, hits = 20_000, 0
    for i in range(trials):
        book = book_of(order(price="99", arrived=True))
        if event == "bar":  # the low passes the limit: only the draw decides
            got = bar(m, book, "100", "100", "98", "100", start_ns=i)
        elif event == "trade":
            got = m.trade(book, ts=i, price=D(100), size=D(5))
        else:
            got = m.quote(book, ts=i, bid=D("99.5"), bid_size=D(3), ask=D("100.5"), ask_size=D(3))
        assert all(x.price == D(99) and x.liquidity == "maker" for x in got)
        hits += len(got)
    sigma = math.sqrt(p * (1 - p) / trials)
    assert abs(poisson_rate(hits, trials) - p) < 5 * sigma


def test_poisson_probability_is_capped_at_one_and_vanishes_far_from_the_mid() -> None:
    cfg = PoissonFillConfig(A=500.0, k=1.5, dt=0.01)  # A dt = 5 at delta 0: capped at 1
    m = matcher(seed=1, fill_model="poisson", poisson=cfg)
    near = [m.trade(book_of(order(price="100", arrived=True)), ts=0, price=D(100), size=D(1))
            for _ in range(500)]  # fmt: skip
    assert all(len(x) == 1 for x in near)
    far = [m.trade(book_of(order(price="50", arrived=True)), ts=0, price=D(100), size=D(1))
           for _ in range(500)]  # fmt: skip
    assert all(x == [] for x in far)


def test_poisson_draws_are_reproducible_from_the_seed() -> None:
    def run(seed: int) -> list[int]:
        m = matcher(seed=seed, fill_model="poisson")
        return [
            len(m.trade(book_of(order(price="99", arrived=True)), ts=0, price=D(100), size=D(1)))
            for _ in range(200)
        ]

    assert run(3) == run(3)
    assert run(3) != run(4)
