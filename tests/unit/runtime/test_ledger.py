"""The ledger: postings balance, venue accounts never go negative, refusals change nothing."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import msgspec
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from runtime import (
    Accounts,
    KineticError,
    Ledger,
    LedgerError,
    LedgerHistory,
    LedgerState,
    Posting,
    Trade,
)
from runtime._audit import find_problem
from runtime._valuation import HOUR_NS
from tests.unit.runtime.test_ledger_moves import ReferenceBooks

D = Decimal
USDT = Accounts.venue("sim", "USDT")
BTC = Accounts.venue("sim", "BTC")
MARKS = {"BTC": D(100), "ETH": D(10), "BNB": D(5)}


def _encoded(ledger: Ledger) -> bytes:
    return msgspec.msgpack.encode(ledger.state)


def _trades(ledger: Ledger) -> list[Trade]:
    assert ledger.history is not None
    return ledger.history.trades


def _funded(usdt: str = "1000") -> Ledger:
    ledger = Ledger(history=LedgerHistory())
    ledger.deposit("sim", "USDT", D(usdt), corr="fund", ts=0)
    return ledger


# -- by hand -------------------------------------------------------------------------------------


def test_a_buy_and_a_sell_post_these_lines() -> None:
    ledger = _funded()
    buy = ledger.apply_fill(
        "sim", "BTC/USDT", "buy", D(2), D(100), D("0.2"), corr="s1", fill_id="f1", ts=10
    )
    assert buy.kind == "fill" and buy.corr == "s1" and buy.ts == 10 and buy.lot_id == "lot-1"
    assert buy.postings == (
        Posting(BTC, "BTC", D(2)),
        Posting("trading:sim/instrument:BTC/USDT/asset:BTC", "BTC", D(-2)),
        Posting(USDT, "USDT", D(-200)),
        Posting("trading:sim/instrument:BTC/USDT/asset:USDT", "USDT", D(200)),
        Posting(USDT, "USDT", D("-0.2")),
        Posting("fees:sim/asset:USDT", "USDT", D("0.2")),
    )
    sell = ledger.apply_fill(
        "sim", "BTC/USDT", "sell", D(2), D(110), D("0.22"), corr="s2", fill_id="f2", ts=20
    )
    assert sell.trade_id == "trade-1"
    assert ledger.balances() == {
        "external:owner/asset:USDT": D(-1000),
        "fees:sim/asset:USDT": D("0.42"),
        "pnl:sim/instrument:BTC/USDT/asset:USDT": D(-20),  # a gain is a credit
        "trading:sim/instrument:BTC/USDT/asset:BTC": D(0),
        "trading:sim/instrument:BTC/USDT/asset:USDT": D(0),
        BTC: D(0),
        USDT: D("1019.58"),
    }
    assert _trades(ledger)[0].pnl == D("19.58")  # 220 - 200 - 0.2 - 0.22
    ledger.audit()


def test_refusals_read_like_msgspec_and_change_nothing() -> None:
    ledger = _funded()
    ledger.apply_fill("sim", "BTC/USDT", "buy", D(1), D(100), corr="a", fill_id="f0", ts=1)
    before = _encoded(ledger)
    cases: list[tuple[str, dict[str, object]]] = [
        ("`qty` must be > 0, got -5", {"qty": D(-5)}),
        ("`qty` must be a `Decimal`, got `float` 0.5", {"qty": 0.5}),
        ("`price` must be > 0, got NaN", {"price": D("NaN")}),
        ("`fee` must be a `Decimal` >= 0, got Decimal('-1')", {"fee": D(-1)}),
        ("`side` must be 'buy' or 'sell', got 'short'", {"side": "short"}),
        ("`instrument` must be BASE/QUOTE, got 'BTCUSDT'", {"instrument": "BTCUSDT"}),
        (
            "insufficient funds in `venue:sim/asset:USDT/wallet:main`: needs 1000, free 900",
            {"qty": D(10)},
        ),
        ("`fee` must be < `qty` 1 when paid in `BTC`, got 1", {"fee": D(1), "fee_asset": "BTC"}),
        ("`ts` must be an `int` (ns), got 1.5", {"ts": 1.5}),
    ]
    for message, change in cases:
        args: dict[str, object] = {
            "instrument": "BTC/USDT",
            "side": "buy",
            "qty": D(1),
            "price": D(100),
            "fee": D(0),
            "fee_asset": "",
            "ts": 2,
        } | change
        with pytest.raises(LedgerError) as info:
            ledger.apply_fill(
                "sim",
                args["instrument"],  # type: ignore[arg-type]
                args["side"],  # type: ignore[arg-type]
                args["qty"],  # type: ignore[arg-type]
                args["price"],  # type: ignore[arg-type]
                args["fee"],  # type: ignore[arg-type]
                args["fee_asset"],  # type: ignore[arg-type]
                corr="b",
                fill_id="f1",
                ts=args["ts"],  # type: ignore[arg-type]
            )
        assert str(info.value) == message
        assert _encoded(ledger) == before
    with pytest.raises(LedgerError, match=r"^`amount` must be > 0, got 0$"):
        ledger.deposit("sim", "USDT", D(0), corr="c", ts=3)
    with pytest.raises(LedgerError, match=r"^insufficient funds in `venue:sim/asset:BTC"):
        ledger.withdraw("sim", "BTC", D(2), corr="c", ts=3)
    assert _encoded(ledger) == before
    assert issubclass(LedgerError, KineticError)


def test_an_unbalanced_transaction_never_posts() -> None:
    ledger = _funded()
    before = _encoded(ledger)
    with pytest.raises(AssertionError, match="is off by 1 `USDT`"):
        ledger._post("transfer", (Posting(USDT, "USDT", D(1)),), (), corr="bug", ts=1)
    assert _encoded(ledger) == before


def test_holds_reserve_funds_that_only_their_order_may_spend() -> None:
    ledger = _funded()
    ledger.reserve("o1", "sim", "USDT", D(600), corr="s1", ts=1)
    assert (ledger.balance(USDT), ledger.held(USDT), ledger.free(USDT)) == (1000, 600, 400)
    with pytest.raises(LedgerError, match="cannot reserve 500 `USDT`"):
        ledger.reserve("o2", "sim", "USDT", D(500), corr="s2", ts=2)
    with pytest.raises(LedgerError, match="needs 500, free 400"):
        ledger.withdraw("sim", "USDT", D(500), corr="w", ts=2)
    with pytest.raises(LedgerError, match="needs 500, free 400"):  # another order's fill
        ledger.apply_fill(
            "sim", "BTC/USDT", "buy", D(5), D(100), corr="s2", fill_id="x", ts=2, order_id="o2"
        )
    # o1 fills in two parts: 300 + 0.3 fee, then 200 + 0.2 fee; the rest is released.
    ledger.apply_fill(
        "sim",
        "BTC/USDT",
        "buy",
        D(3),
        D(100),
        D("0.3"),
        corr="s1",
        fill_id="a",
        ts=3,
        order_id="o1",
    )
    assert (ledger.held(USDT), ledger.free(USDT)) == (D("299.7"), 400)
    ledger.apply_fill(
        "sim",
        "BTC/USDT",
        "buy",
        D(2),
        D(100),
        D("0.2"),
        corr="s1",
        fill_id="b",
        ts=4,
        order_id="o1",
    )
    assert ledger.release("o1") == D("99.5")
    assert ledger.release("o1") == 0  # a second cancel frees nothing
    assert (ledger.held(USDT), ledger.free(USDT)) == (0, D("499.5"))
    ledger.audit()


def test_a_redelivered_fill_is_applied_once() -> None:
    ledger = _funded()
    first = ledger.apply_fill("sim", "BTC/USDT", "buy", D(1), D(100), corr="a", fill_id="f", ts=1)
    assert first is not None
    before = _encoded(ledger)
    again = ledger.apply_fill("sim", "BTC/USDT", "buy", D(1), D(100), corr="a", fill_id="f", ts=9)
    assert again is None
    assert _encoded(ledger) == before
    with pytest.raises(LedgerError, match=r"^`fill_id` f at `sim` was applied with other terms$"):
        ledger.apply_fill("sim", "BTC/USDT", "buy", D(2), D(100), corr="a", fill_id="f", ts=9)


def test_trace_follows_signal_order_fill_lot_trade() -> None:
    ledger = _funded()
    ledger.apply_fill(
        "sim", "BTC/USDT", "buy", D(1), D(100), corr="sig-1", fill_id="f1", ts=1, order_id="o1"
    )
    ledger.apply_fill(
        "sim", "BTC/USDT", "buy", D(1), D(120), corr="sig-1", fill_id="f2", ts=2, order_id="o1"
    )
    ledger.apply_fill(
        "sim", "BTC/USDT", "sell", D("1.5"), D(130), corr="sig-2", fill_id="f3", ts=3, order_id="o2"
    )
    buy = ledger.trace("sig-1")
    assert buy.orders == ("o1",)
    assert [f.fill_id for f in buy.fills] == ["f1", "f2"]
    assert buy.lots == ("lot-1", "lot-2")
    assert buy.trades == ()
    assert [(c.trade_id, c.lot_id, c.qty) for c in buy.closed_by] == [
        ("trade-1", "lot-1", 1),
        ("trade-1", "lot-2", D("0.5")),
    ]
    sell = ledger.trace("sig-2")
    assert sell.orders == ("o2",)
    (trade,) = sell.trades
    assert trade.fill_id == "f3" and trade.order_id == "o2"
    assert {(c.lot_corr, c.lot_fill_id) for c in trade.closes} == {("sig-1", "f1"), ("sig-1", "f2")}
    assert [tx.trade_id for tx in sell.txs] == ["trade-1"]


def test_snapshot_values_the_books_and_tracks_drawdown_from_the_peak() -> None:
    ledger = _funded()
    ledger.apply_fill("sim", "BTC/USDT", "buy", D(4), D(100), D("0.4"), corr="a", fill_id="1", ts=1)
    up = ledger.snapshot({"BTC": D(150)}, ts=2)
    assert (up.cash, up.equity, up.exposure) == (D("599.6"), D("1199.6"), D(600))
    assert up.unrealized_pnl == D("199.6")  # 600 - 400 - 0.4
    assert (up.drawdown, up.drawdown_ratio) == (0, 0)
    down = ledger.snapshot({"BTC/USDT": D(75)}, ts=3)
    assert down.equity == D("899.6")
    assert (down.peak_equity, down.drawdown) == (D("1199.6"), D(300))
    assert down.drawdown_ratio == D("0.25008336")  # 300 / 1199.6
    (held,) = down.positions
    assert (held.account, held.qty, held.mark, held.value) == (BTC, 4, 75, 300)
    with pytest.raises(LedgerError, match=r"^no mark for `BTC` in `USDT`$"):
        ledger.snapshot({}, ts=4)


def test_hourly_emits_once_per_hour_crossed() -> None:
    ledger = _funded()
    taken = [
        ts
        for ts in (0, HOUR_NS - 1, HOUR_NS, HOUR_NS + 5, 3 * HOUR_NS + 7, 3 * HOUR_NS + 8)
        if ledger.hourly(MARKS, ts=ts) is not None
    ]
    assert taken == [0, HOUR_NS, 3 * HOUR_NS + 7]
    assert ledger.history is not None
    assert [s.ts for s in ledger.history.snapshots] == taken
    assert ledger.state.last_snapshot is not None
    assert ledger.state.last_snapshot.ts == taken[-1]


def test_state_round_trips_and_the_restored_ledger_continues_identically() -> None:
    ledger = _funded()
    ledger.apply_fill("sim", "BTC/USDT", "buy", D(3), D(100), D(1), corr="a", fill_id="1", ts=1)
    ledger.reserve("o", "sim", "USDT", D(50), corr="b", ts=2)
    ledger.hourly(MARKS, ts=3)
    for codec in (msgspec.msgpack, msgspec.json):
        state = codec.decode(codec.encode(ledger.state), type=LedgerState)
        assert state == ledger.state
        twin = Ledger(state=state)
        for book in (ledger, twin) if codec is msgspec.json else ():
            book.apply_fill("sim", "BTC/USDT", "sell", D(1), D(90), corr="c", fill_id="2", ts=4)
        twin.audit()
        assert _encoded(twin) == _encoded(ledger)


def test_the_hash_chain_names_the_books_and_audit_names_the_first_bad_posting() -> None:
    a, b = _funded(), _funded()
    for ledger in (a, b):
        ledger.apply_fill("sim", "BTC/USDT", "buy", D(1), D(100), corr="s", fill_id="1", ts=1)
    assert a.state.tx_head == b.state.tx_head != bytes(32)
    assert find_problem(a.state, a.history) is None
    assert a.history is not None
    tx = a.history.txs[1]
    bad = tuple(
        p if i != 2 else Posting(p.account, p.asset, p.amount + 1)
        for i, p in enumerate(tx.postings)
    )
    a.history.txs[1] = msgspec.structs.replace(tx, postings=bad)
    problem = find_problem(a.state, a.history)
    assert problem is not None and (problem.check, problem.tx) == ("double entry", 1)
    assert str(problem).startswith(
        "double entry: transaction 1 posting 3: the transaction is off by"
    )
    # A withdrawal the books never allowed: the running balance names its posting.
    b.history.txs.append(  # type: ignore[union-attr]
        msgspec.structs.replace(
            tx,
            id=2,
            postings=(
                Posting(USDT, "USDT", D(-5000)),
                Posting("external:x/asset:USDT", "USDT", D(5000)),
            ),
        )
    )
    problem = find_problem(b.state, b.history)
    assert problem is not None
    assert (problem.check, problem.tx, problem.posting, problem.account) == (
        "no negative balance", 2, 0, USDT,
    )  # fmt: skip


def test_trace_needs_the_history_the_journal_keeps() -> None:
    ledger = Ledger()
    ledger.deposit("sim", "USDT", D(1), corr="c", ts=0)
    with pytest.raises(LedgerError, match="needs a ledger with a `LedgerHistory`"):
        ledger.trace("c")
    ledger.audit()  # the state's own invariants still check


# -- random sequences ----------------------------------------------------------------------------

VENUES = ("sim", "alt")
PLACES = ("sim", "alt", "wallet:alice")
INSTRUMENTS = ("BTC/USDT", "ETH/USDT", "BNB/USDT")
FEE_RATE = D("0.001")
qtys = st.integers(1, 5_000).map(lambda n: D(n).scaleb(-3))
prices = st.integers(100, 50_000).map(lambda n: D(n).scaleb(-2))
amounts = st.integers(1, 10**7).map(lambda n: D(n).scaleb(-2))


class Order(msgspec.Struct):
    order_id: str
    venue: str
    instrument: str
    side: str
    price: Decimal
    left: Decimal


class LedgerMachine(RuleBasedStateMachine):
    """Deposits (with and without a cost basis), withdrawals, transfers between venues and a
    wallet, fees, orders with holds, partial fills, cancels, raw fills, redelivered fills and
    restores from a snapshot, against `ReferenceBooks` in Fractions."""

    orders = Bundle("orders")

    @initialize()
    def start(self) -> None:
        self.ledger = Ledger(history=LedgerHistory())
        self.ref = ReferenceBooks()
        self.n = 0
        self.applied: list[tuple[str, str, str, Decimal, Decimal, Decimal, str, str, str]] = []
        for venue in VENUES:
            self._deposit(venue, "USDT", D(20_000), None)
            self._deposit(venue, "BNB", D(100), None)
            self._deposit(venue, "BNB", D(50), D(250))  # 50 BNB in a lot at 5 USDT

    def _next(self) -> int:
        self.n += 1
        return self.n

    def _refused(self, call: object, *args: object, **kwargs: object) -> bool:
        """Run a ledger call; if it is refused, check that it changed nothing."""
        before = _encoded(self.ledger)
        try:
            call(*args, **kwargs)  # type: ignore[operator]
        except LedgerError:
            assert _encoded(self.ledger) == before
            return True
        return False

    def _deposit(self, place: str, asset: str, x: Decimal, cost: Decimal | None) -> None:
        n = self._next()
        self.ledger.deposit(place, asset, x, corr=f"c{n}", ts=n, cost=cost, ref=f"d{n}")
        self.ref.deposit(place, asset, x, cost)

    def _fill(
        self,
        venue: str,
        instrument: str,
        side: str,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        fee_asset: str,
        order_id: str = "",
    ) -> bool:
        n = self._next()
        refused = self._refused(
            self.ledger.apply_fill,
            venue,
            instrument,
            side,
            qty,
            price,
            fee,
            fee_asset,
            corr=f"c{n}",
            fill_id=f"f{n}",
            ts=n,
            order_id=order_id,
        )
        if refused:
            return False
        self.applied.append(
            (venue, instrument, side, qty, price, fee, fee_asset, f"f{n}", order_id)
        )
        fee_asset = fee_asset or instrument.split("/")[1]
        if side == "buy":
            self.ref.buy(venue, instrument, qty, price, fee, fee_asset)
        else:
            pnl = self.ref.sell(venue, instrument, qty, price, fee, fee_asset)
            assert Fraction(_trades(self.ledger)[-1].pnl) == pnl
        return True

    @rule(
        place=st.sampled_from(PLACES),
        asset=st.sampled_from(["USDT", "BTC", "ETH", "BNB"]),
        x=amounts,
        unit=st.none() | prices,
    )
    def deposit(self, place: str, asset: str, x: Decimal, unit: Decimal | None) -> None:
        self._deposit(place, asset, x, None if unit is None or asset == "USDT" else x * unit)

    @rule(place=st.sampled_from(PLACES), asset=st.sampled_from(["USDT", "BTC", "BNB"]), x=amounts)
    def withdraw(self, place: str, asset: str, x: Decimal) -> None:
        n = self._next()
        if not self._refused(self.ledger.withdraw, place, asset, x, corr=f"c{n}", ts=n):
            self.ref.take(place, asset, Fraction(x))

    @rule(place=st.sampled_from(PLACES), asset=st.sampled_from(["BTC", "BNB"]), x=amounts)
    def charge_fee(self, place: str, asset: str, x: Decimal) -> None:
        n = self._next()
        if not self._refused(self.ledger.charge_fee, place, asset, x, corr=f"c{n}", ts=n):
            self.ref.take(place, asset, Fraction(x))

    @rule(
        a=st.sampled_from(PLACES),
        b=st.sampled_from(PLACES),
        asset=st.sampled_from(["USDT", "BTC", "ETH"]),
        x=amounts | qtys,
    )
    def transfer(self, a: str, b: str, asset: str, x: Decimal) -> None:
        n = self._next()
        if a != b and not self._refused(self.ledger.transfer, a, b, asset, x, corr=f"c{n}", ts=n):
            self.ref.transfer(a, b, asset, x)

    @rule(
        target=orders,
        venue=st.sampled_from(VENUES),
        instrument=st.sampled_from(INSTRUMENTS),
        side=st.sampled_from(["buy", "sell"]),
        qty=qtys,
        price=prices,
    )
    def place(self, venue: str, instrument: str, side: str, qty: Decimal, price: Decimal) -> Order:
        n = self._next()
        base, quote = instrument.split("/")
        # Risk's rule: a buy holds its notional and its largest fee, a sell its quantity.
        asset, amount = (quote, qty * price * (1 + FEE_RATE)) if side == "buy" else (base, qty)
        order = Order(f"o{n}", venue, instrument, side, price, qty)
        if self._refused(self.ledger.reserve, order.order_id, venue, asset, amount, corr="o", ts=n):
            order.left = D(0)
        return order

    @rule(order=orders, part=st.integers(1, 4), better=st.integers(0, 50))
    def fill(self, order: Order, part: int, better: int) -> None:
        if not order.left:
            return
        qty = max((order.left * part / 4).quantize(D("0.001")), min(order.left, D("0.001")))
        qty = min(qty, order.left)
        # A limit order fills at its price or better.
        price = order.price - D(better).scaleb(-2) if order.side == "buy" else order.price
        price = max(price, D("0.01"))
        fee = (qty * price * FEE_RATE).quantize(D("1e-8"), rounding="ROUND_DOWN")
        filled = self._fill(
            order.venue, order.instrument, order.side, qty, price, fee, "", order.order_id
        )
        if filled:
            order.left -= qty
            if not order.left:
                self.ledger.release(order.order_id)

    @rule(order=consumes(orders))
    def cancel(self, order: Order) -> None:
        self.ledger.release(order.order_id)
        order.left = D(0)

    @rule(
        venue=st.sampled_from(VENUES),
        instrument=st.sampled_from(INSTRUMENTS),
        side=st.sampled_from(["buy", "sell"]),
        qty=qtys,
        price=prices,
        fee=st.sampled_from([D(0), D("0.001"), D("0.5"), D(3)]),
        fee_asset=st.sampled_from(["", "BTC", "ETH", "BNB"]),
    )
    def raw_fill(
        self,
        venue: str,
        instrument: str,
        side: str,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        fee_asset: str,
    ) -> None:
        self._fill(venue, instrument, side, qty, price, fee, fee_asset)

    @precondition(lambda self: self.ledger.state.positions)
    @rule(
        i=st.integers(0, 10**6),
        part=st.integers(1, 4),
        price=prices,
        fee_asset=st.sampled_from(["", "base", "BNB"]),
    )
    def sell_from_lots(self, i: int, part: int, price: Decimal, fee_asset: str) -> None:
        """Sell part (or all) of a position's open lots, so sells meet lots often."""
        positions = self.ledger.state.positions
        pos = positions[sorted(positions)[i % len(positions)]]
        held = pos.open_qty()
        if not held or pos.venue not in VENUES:
            return
        asset = pos.base if fee_asset == "base" else fee_asset
        fee = D("0.0001") if asset == pos.base else (held * price * FEE_RATE).quantize(D("1e-8"))
        qty = (held * part / 4).quantize(D("0.001"), rounding="ROUND_DOWN")
        qty = held - fee if asset == pos.base and qty + fee > held else qty
        if qty > 0:
            self._fill(pos.venue, pos.instrument, "sell", qty, price, fee, asset)

    @precondition(lambda self: self.applied)
    @rule(i=st.integers(0, 10**6))
    def redeliver(self, i: int) -> None:
        venue, instrument, side, qty, price, fee, fee_asset, fill_id, order_id = self.applied[
            i % len(self.applied)
        ]
        before = _encoded(self.ledger)
        again = self.ledger.apply_fill(
            venue,
            instrument,
            side,  # type: ignore[arg-type]
            qty,
            price,
            fee,
            fee_asset,
            corr="again",
            fill_id=fill_id,
            ts=self._next(),
            order_id=order_id,
        )
        assert again is None
        assert _encoded(self.ledger) == before

    @rule()
    def restore(self) -> None:
        """Snapshot the state and go on with a ledger restored from it (history kept aside)."""
        state = msgspec.msgpack.decode(_encoded(self.ledger), type=LedgerState)
        assert state == self.ledger.state
        self.ledger = Ledger(state=state, history=self.ledger.history)

    @invariant()
    def books_hold(self) -> None:
        # Balanced per transaction and in total, no holding ever negative, holds within
        # balances, lots within holdings and equal to the trading accounts, realized PnL from
        # the lots, the hash chain: all from the first transaction up.
        self.ledger.audit()
        for account, amount in self.ledger.holdings().items():
            assert amount >= 0
            assert self.ledger.free(account) >= 0

    @invariant()
    def books_match_the_reference(self) -> None:
        self.ref.check(self.ledger)

    @invariant()
    def equity_is_cash_plus_marked_positions_without_leverage(self) -> None:
        snap = self.ledger.snapshot(MARKS, ts=self.n)
        assert snap.equity == snap.cash + sum((p.value for p in snap.positions), D(0))
        assert 0 <= snap.exposure <= snap.equity  # spot: no leverage
        assert snap.drawdown == snap.peak_equity - snap.equity >= 0


LedgerMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_random_sequences_keep_the_books = LedgerMachine.TestCase
