"""FIFO lots: realized PnL equals an independent reference, and pro-rata shares stay exact."""

from __future__ import annotations

from collections import deque
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime import Ledger, LedgerError, LedgerHistory, Trade
from runtime._lots import share

D = Decimal
QUANTUM = Fraction(1, 10**8)


def _finite_decimal(x: Fraction) -> bool:
    """Return whether `x` has a finite decimal expansion (its denominator is 2^a * 5^b)."""
    d = x.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def _alloc(x: Fraction, take: Fraction, of: Fraction) -> Fraction:
    """Return the reference share of `x` for `take` of `of`, by the rule docs/ledger.md states."""
    if take == of:
        return x
    v = x * take / of
    if _finite_decimal(v):
        return v
    return min(Fraction(round(v / QUANTUM)) * QUANTUM, x)  # never a tie: v is not a finite decimal


class ReferenceFifo:
    """A plain queue of [qty, cost, fee] lots in Fractions: the FIFO the ledger must agree with.

    Written from the rules in docs/ledger.md, not from the ledger's code: a quote fee joins the
    buy's lot and is charged pro rata as it sells; a base fee shrinks the lot on a buy and is sold
    with no proceeds on a sell; a fee in another asset held in no lots is not attributed.
    """

    def __init__(self, base: str, quote: str) -> None:
        self.base, self.quote = base, quote
        self.lots: deque[list[Fraction]] = deque()

    def open_qty(self) -> Fraction:
        return sum((lot[0] for lot in self.lots), Fraction(0))

    def buy(self, qty: Decimal, price: Decimal, fee: Decimal, fee_asset: str) -> None:
        q, p, f = Fraction(qty), Fraction(price), Fraction(fee)
        base_fee = f if fee_asset == self.base else Fraction(0)
        quote_fee = f if fee_asset == self.quote else Fraction(0)
        self.lots.append([q - base_fee, q * p, quote_fee])

    def sell(self, qty: Decimal, price: Decimal, fee: Decimal, fee_asset: str) -> Fraction:
        """Consume lots for the sell and return its realized PnL."""
        q, p, f = Fraction(qty), Fraction(price), Fraction(fee)
        need = q + (f if fee_asset == self.base else 0)
        paid = f if fee_asset == self.quote else Fraction(0)
        cost = Fraction(0)
        while need:
            lot = self.lots[0]
            take = min(lot[0], need)
            c, fee_part = _alloc(lot[1], take, lot[0]), _alloc(lot[2], take, lot[0])
            cost += c
            paid += fee_part
            lot[0] -= take
            lot[1] -= c
            lot[2] -= fee_part
            need -= take
            if not lot[0]:
                self.lots.popleft()
        return q * p - cost - paid


qtys = st.integers(1, 40_000).map(lambda n: D(n).scaleb(-4))  # 0.0001 .. 4
prices = st.integers(1, 2_000_000).map(lambda n: D(n).scaleb(-2))  # 0.01 .. 20,000
fee_assets = st.sampled_from(["USDT", "BTC", "BNB"])


@st.composite
def fill_sequences(draw: st.DrawFn) -> list[tuple[str, Decimal, Decimal, Decimal, str]]:
    """Draw buys and sells (sells never more than the open lots) with fees in three assets."""
    ref = ReferenceFifo("BTC", "USDT")
    out = []
    for _ in range(draw(st.integers(1, 25))):
        price = draw(prices)
        fee_asset = draw(fee_assets)
        if ref.lots and draw(st.booleans()):
            held = ref.open_qty()
            qty = min(draw(qtys), D(held.numerator) / D(held.denominator))
            rate = draw(st.sampled_from([D(0), D("0.001"), D("0.0075")]))
            fee = (qty * rate).quantize(D("1e-8"), ROUND_DOWN)
            if fee_asset != "BTC":
                fee = rate * qty * price
            elif Fraction(qty + fee) > held:
                qty = D(held.numerator) / D(held.denominator) - fee
                if qty <= 0:
                    continue
            ref.sell(qty, price, fee, fee_asset)
            out.append(("sell", qty, price, fee, fee_asset))
        else:
            qty = draw(qtys)
            rate = draw(st.sampled_from([D(0), D("0.001")]))
            fee = (qty * rate).quantize(D("1e-8")) if fee_asset == "BTC" else rate * qty * price
            ref.buy(qty, price, fee, fee_asset)
            out.append(("buy", qty, price, fee, fee_asset))
    return out


def _trades(ledger: Ledger) -> list[Trade]:
    assert ledger.history is not None
    return ledger.history.trades


def _funded() -> Ledger:
    ledger = Ledger(history=LedgerHistory())
    ledger.deposit("sim", "USDT", D(10) ** 12, corr="fund", ts=0)
    ledger.deposit("sim", "BNB", D(10) ** 9, corr="fund", ts=0)
    return ledger


@settings(max_examples=300, deadline=None)
@given(fill_sequences())
def test_fifo_realized_pnl_equals_the_reference(
    fills: list[tuple[str, Decimal, Decimal, Decimal, str]],
) -> None:
    ledger = _funded()
    ref = ReferenceFifo("BTC", "USDT")
    for i, (side, qty, price, fee, fee_asset) in enumerate(fills):
        ledger.apply_fill(
            "sim", "BTC/USDT", side, qty, price, fee, fee_asset, corr=f"c{i}", fill_id=f"f{i}", ts=i
        )
        if side == "buy":
            ref.buy(qty, price, fee, fee_asset)
        else:
            expected = ref.sell(qty, price, fee, fee_asset)
            assert Fraction(_trades(ledger)[-1].pnl) == expected
        pos = ledger.position("sim", "BTC/USDT")
        assert pos is not None
        assert [(Fraction(x.qty), Fraction(x.cost), Fraction(x.fee)) for x in pos.lots] == [
            tuple(lot) for lot in ref.lots
        ]
    pos = ledger.position("sim", "BTC/USDT")
    assert pos is not None
    assert pos.realized == sum((t.pnl for t in _trades(ledger)), D(0))
    ledger.audit()


@settings(max_examples=200, deadline=None)
@given(fill_sequences(), prices)
def test_a_flat_position_realizes_proceeds_minus_costs_minus_fees_exactly(
    fills: list[tuple[str, Decimal, Decimal, Decimal, str]], last: Decimal
) -> None:
    """Whatever was rounded on the way, closing everything charges each cost and fee once."""
    ledger = _funded()
    flows = Fraction(0)
    for i, (side, qty, price, fee, fee_asset) in enumerate(fills):
        ledger.apply_fill(
            "sim", "BTC/USDT", side, qty, price, fee, fee_asset, corr=f"c{i}", fill_id=f"f{i}", ts=i
        )
        sign = 1 if side == "sell" else -1
        flows += sign * Fraction(qty) * Fraction(price) - (fee_asset == "USDT") * Fraction(fee)
    pos = ledger.position("sim", "BTC/USDT")
    assert pos is not None
    left = pos.open_qty()
    if left:
        ledger.apply_fill("sim", "BTC/USDT", "sell", left, last, corr="x", fill_id="last", ts=99)
        flows += Fraction(left) * Fraction(last)
    assert not pos.lots
    assert Fraction(pos.realized) == flows


def test_fifo_by_hand() -> None:
    """Buy 2 @ 100 (fee 0.2), 1 @ 130 (fee 0.13); sell 2.5 @ 120 (fee 0.3)."""
    ledger = _funded()
    ledger.apply_fill("sim", "BTC/USDT", "buy", D(2), D(100), D("0.2"), corr="a", fill_id="1", ts=1)
    ledger.apply_fill(
        "sim", "BTC/USDT", "buy", D(1), D(130), D("0.13"), corr="b", fill_id="2", ts=2
    )
    ledger.apply_fill(
        "sim", "BTC/USDT", "sell", D("2.5"), D(120), D("0.3"), corr="c", fill_id="3", ts=3
    )
    (trade,) = _trades(ledger)
    assert trade.proceeds == 300
    assert trade.cost == 200 + 65  # all of lot 1, half of lot 2 at 130
    assert trade.fees == D("0.2") + D("0.065") + D("0.3")
    assert trade.pnl == D("34.435")
    assert [(c.lot_id, c.qty) for c in trade.closes] == [("lot-1", 2), ("lot-2", D("0.5"))]
    pos = ledger.position("sim", "BTC/USDT")
    assert pos is not None
    (lot,) = pos.lots
    assert (lot.id, lot.qty, lot.cost, lot.fee) == ("lot-2", D("0.5"), D(65), D("0.065"))


def test_a_base_fee_shrinks_the_lot_and_is_sold_without_proceeds() -> None:
    ledger = _funded()
    ledger.apply_fill(
        "sim", "BTC/USDT", "buy", D(1), D(100), D("0.001"), "BTC", corr="a", fill_id="1", ts=1
    )
    assert ledger.balance("venue:sim/asset:BTC/wallet:main") == D("0.999")
    pos = ledger.position("sim", "BTC/USDT")
    assert pos is not None
    assert (pos.lots[0].qty, pos.lots[0].cost) == (D("0.999"), D(100))
    # Selling 0.998 with a 0.001 BTC fee consumes the whole lot: pnl = 0.998 * 110 - 100.
    ledger.apply_fill(
        "sim",
        "BTC/USDT",
        "sell",
        D("0.998"),
        D(110),
        D("0.001"),
        "BTC",
        corr="b",
        fill_id="2",
        ts=2,
    )
    assert _trades(ledger)[0].pnl == D("9.78")
    assert not pos.lots
    assert ledger.balance("venue:sim/asset:BTC/wallet:main") == 0
    assert ledger.balance("fees:sim/asset:BTC") == D("0.002")


def test_a_fee_in_a_third_asset_without_lots_is_posted_but_not_attributed() -> None:
    ledger = _funded()
    ledger.apply_fill(
        "sim", "BTC/USDT", "buy", D(1), D(100), D("0.05"), "BNB", corr="a", fill_id="1", ts=1
    )
    ledger.apply_fill(
        "sim", "BTC/USDT", "sell", D(1), D(101), D("0.05"), "BNB", corr="b", fill_id="2", ts=2
    )
    assert _trades(ledger)[0].pnl == 1
    assert ledger.balance("fees:sim/asset:BNB") == D("0.1")


def test_an_inexact_share_rounds_to_the_quantum_and_the_last_slice_takes_the_rest() -> None:
    q = D("1e-8")
    assert share(D(1), D(1), D(3), q) == D("0.33333333")
    assert share(D(2), D(1), D(3), q) == D("0.66666667")
    assert share(D("0.1"), D(1), D(8), q) == D("0.0125")  # exact: not rounded
    assert share(D(1), D(3), D(3), q) == 1
    ledger = _funded()
    ledger.apply_fill("sim", "BTC/USDT", "buy", D(3), D(1), D(1), corr="a", fill_id="1", ts=1)
    for i in range(3):
        ledger.apply_fill("sim", "BTC/USDT", "sell", D(1), D(1), corr="s", fill_id=f"s{i}", ts=2)
    assert [t.fees for t in _trades(ledger)] == [
        D("0.33333333"),  # 1/3: inexact, rounded
        D("0.333333335"),  # 0.66666667 * 1/2: exact, kept
        D("0.333333335"),  # the rest
    ]
    assert sum(t.fees for t in _trades(ledger)) == 1


def test_a_sell_beyond_the_open_lots_is_refused() -> None:
    ledger = _funded()
    ledger.deposit("sim", "BTC", D(5), corr="fund", ts=0)  # held, but bought at no known cost
    ledger.apply_fill("sim", "BTC/USDT", "buy", D(1), D(100), corr="a", fill_id="1", ts=1)
    with pytest.raises(LedgerError, match=r"`qty` 2 exceeds the open lots of `BTC/USDT`"):
        ledger.apply_fill("sim", "BTC/USDT", "sell", D(2), D(100), corr="b", fill_id="2", ts=2)


def test_a_fee_in_a_third_asset_held_in_lots_is_charged_at_their_cost() -> None:
    """BNB bought at 5 USDT pays the fees: 0.1 BNB is 0.5 USDT of cost, on the buy and the sell."""
    ledger = Ledger(history=LedgerHistory())
    ledger.deposit("sim", "USDT", D(1000), corr="fund", ts=0)
    ledger.deposit("sim", "BNB", D(10), corr="fund", ts=0, cost=D(50), ref="bnb")
    ledger.apply_fill(
        "sim", "BTC/USDT", "buy", D(1), D(100), D("0.1"), "BNB", corr="a", fill_id="1", ts=1
    )
    pos = ledger.position("sim", "BTC/USDT")
    assert pos is not None and pos.lots[0].fee == D("0.5")  # joins the lot like a quote fee
    ledger.apply_fill(
        "sim", "BTC/USDT", "sell", D(1), D(101), D("0.1"), "BNB", corr="b", fill_id="2", ts=2
    )
    (trade,) = _trades(ledger)
    assert (trade.fees, trade.pnl) == (D("1.0"), D("0.0"))  # 101 - 100 - 0.5 - 0.5
    bnb = ledger.position("sim", "BNB/USDT")
    assert bnb is not None and (bnb.open_qty(), bnb.lots[0].cost) == (D("9.8"), D("49.0"))
    assert ledger.balance("fees:sim/asset:BNB") == D("0.2")  # in units
    assert ledger.balance("fees:sim/asset:USDT") == D("1.0")  # and at cost
    assert ledger.balance("trading:sim/instrument:BNB/USDT/asset:USDT") == D("49.0")
    ledger.audit()
