"""Deposits with a cost basis, lots carried by transfers, withdrawals, fees; a Fraction reference.

`ReferenceBooks` is written from the rules in docs/ledger.md, not from the ledger's code: holdings
per location, FIFO lots per location and instrument, and what leaves a holding without a trade
taking the unlotted part first, then lots oldest first. The stateful test in `test_ledger.py`
drives the ledger and this reference side by side.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

import msgspec
import pytest

from runtime import Accounts, Ledger, LedgerError, LedgerHistory, LedgerState, Posting
from tests.unit.runtime.test_lots import _alloc

D = Decimal
F = Fraction
RefLot = list  # [seq, qty, cost, fee]: seq an int, the rest Fractions


class ReferenceBooks:
    """Holdings and FIFO lots per location in Fractions; realized PnL of every sell."""

    def __init__(self) -> None:
        self.hold: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
        self.lots: dict[tuple[str, str], list[RefLot]] = defaultdict(list)
        self.seq = 0

    def lotted(self, loc: str, asset: str) -> Fraction:
        return sum(
            (lot[1] for (lc, i), lots in self.lots.items() if lc == loc and _base(i) == asset
             for lot in lots),
            F(0),
        )  # fmt: skip

    @staticmethod
    def consume(lots: list[RefLot], need: Fraction) -> list[RefLot]:
        """Take `need` from `lots` oldest first; return the slices [seq, qty, cost, fee]."""
        out = []
        while need:
            lot = lots[0]
            take = min(lot[1], need)
            c, f = _alloc(lot[2], take, lot[1]), _alloc(lot[3], take, lot[1])
            out.append([lot[0], take, c, f])
            lot[1] -= take
            lot[2] -= c
            lot[3] -= f
            need -= take
            if not lot[1]:
                lots.pop(0)
        return out

    def take(self, loc: str, asset: str, x: Fraction) -> list[tuple[str, RefLot]]:
        """Take `x` out of a holding: unlotted first, then lots FIFO over its positions."""
        lotted = self.lotted(loc, asset)
        need = min(max(F(0), x - (self.hold[loc, asset] - lotted)), lotted)
        self.hold[loc, asset] -= x
        order = sorted(
            (lot[0], i) for (lc, i), lots in self.lots.items() if lc == loc and _base(i) == asset
            for lot in lots
        )  # fmt: skip
        per: dict[str, Fraction] = defaultdict(Fraction)
        left = need
        for seq, i in order:
            if not left:
                break
            q = next(lot[1] for lot in self.lots[loc, i] if lot[0] == seq)
            per[i] += min(q, left)
            left -= min(q, left)
        return [(i, s) for i, t in per.items() for s in self.consume(self.lots[loc, i], t)]

    def deposit(self, loc: str, asset: str, x: Decimal, cost: Decimal | None) -> None:
        self.hold[loc, asset] += F(x)
        if cost is not None:
            self.seq += 1
            self.lots[loc, f"{asset}/USDT"].append([self.seq, F(x), F(cost), F(0)])

    def transfer(self, a: str, b: str, asset: str, x: Decimal) -> None:
        for i, s in self.take(a, asset, F(x)):
            lots = self.lots[b, i]
            same = [lot for lot in lots if lot[0] == s[0]]
            if same:
                same[0][1:] = [same[0][1] + s[1], same[0][2] + s[2], same[0][3] + s[3]]
            else:
                lots.append(s)
                lots.sort(key=lambda lot: lot[0])
        self.hold[b, asset] += F(x)

    def _fee(self, loc: str, quote: str, fee: Fraction, fee_asset: str, base: str) -> Fraction:
        """Pay a fee that is neither base nor quote; return what it charges the fill."""
        if fee_asset in (base, quote) or not fee:
            return F(0)
        return sum((s[2] + s[3] for i, s in self.take(loc, fee_asset, fee) if _quote(i) == quote),
                   F(0))  # fmt: skip

    def buy(self, loc: str, i: str, q: Decimal, p: Decimal, fee: Decimal, fee_asset: str) -> None:
        base, quote = i.split("/")
        qf, pf, ff = F(q), F(p), F(fee)
        charged = self._fee(loc, quote, ff, fee_asset, base)
        base_fee = ff if fee_asset == base else F(0)
        quote_fee = ff if fee_asset == quote else F(0)
        self.hold[loc, base] += qf - base_fee
        self.hold[loc, quote] -= qf * pf + quote_fee
        self.seq += 1
        self.lots[loc, i].append([self.seq, qf - base_fee, qf * pf, quote_fee + charged])

    def sell(
        self, loc: str, i: str, q: Decimal, p: Decimal, fee: Decimal, fee_asset: str
    ) -> Fraction:
        base, quote = i.split("/")
        qf, pf, ff = F(q), F(p), F(fee)
        charged = self._fee(loc, quote, ff, fee_asset, base)
        base_fee = ff if fee_asset == base else F(0)
        quote_fee = ff if fee_asset == quote else F(0)
        slices = self.consume(self.lots[loc, i], qf + base_fee)
        self.hold[loc, base] -= qf + base_fee
        self.hold[loc, quote] += qf * pf - quote_fee
        cost = sum((s[2] for s in slices), F(0))
        paid = sum((s[3] for s in slices), F(0)) + quote_fee + charged
        return qf * pf - cost - paid

    def check(self, ledger: Ledger) -> None:
        """Assert the ledger holds what the reference holds, lot for lot."""
        for (loc, asset), x in self.hold.items():
            assert F(ledger.balance(Accounts.venue(loc, asset))) == x, (loc, asset)
        got = {
            (p.venue, p.instrument): [[x.seq, F(x.qty), F(x.cost), F(x.fee)] for x in p.lots]
            for p in ledger.state.positions.values()
        }
        want = {k: v for k, v in self.lots.items() if v}
        assert {k: v for k, v in got.items() if v} == want


def _base(instrument: str) -> str:
    return instrument.partition("/")[0]


def _quote(instrument: str) -> str:
    return instrument.partition("/")[2]


# -- by hand -------------------------------------------------------------------------------------


def _books() -> Ledger:
    ledger = Ledger(history=LedgerHistory())
    ledger.deposit("sim", "USDT", D(10_000), corr="fund", ts=0)
    return ledger


def test_a_deposit_with_a_cost_basis_opens_a_lot_that_sells_against_it() -> None:
    ledger = _books()
    tx = ledger.deposit(
        "sim", "BTC", D(2), corr="open", ts=1, ref="opening:sim:BTC", cost=D(200_000)
    )
    assert tx is not None and tx.lot_id == "lot-1" and tx.ref == "opening:sim:BTC"
    assert tx.postings == (
        Posting("venue:sim/asset:BTC/wallet:main", "BTC", D(2)),
        Posting("external:owner/asset:BTC", "BTC", D(-2)),
        Posting("trading:sim/instrument:BTC/USDT/asset:USDT", "USDT", D(200_000)),
        Posting("basis:sim/instrument:BTC/USDT/asset:USDT", "USDT", D(-200_000)),
    )
    ledger.apply_fill("sim", "BTC/USDT", "sell", D("0.5"), D(110_000), corr="s", fill_id="1", ts=2)
    assert ledger.history is not None
    (trade,) = ledger.history.trades
    assert (trade.cost, trade.pnl, trade.closes[0].lot_fill_id) == (
        50_000,
        5_000,
        "opening:sim:BTC",
    )
    assert (
        ledger.deposit("sim", "BTC", D(2), corr="x", ts=3, ref="opening:sim:BTC", cost=D(200_000))
        is None
    )
    with pytest.raises(LedgerError, match=r"^`ref` opening:sim:BTC was booked with other terms"):
        ledger.deposit("sim", "BTC", D(3), corr="x", ts=3, ref="opening:sim:BTC")
    ledger.audit()


def test_a_transfer_carries_lots_oldest_first_and_keeps_their_identity() -> None:
    ledger = _books()
    ledger.apply_fill("sim", "BTC/USDT", "buy", D(1), D(100), corr="a", fill_id="1", ts=1)
    ledger.apply_fill("sim", "BTC/USDT", "buy", D(1), D(120), corr="b", fill_id="2", ts=2)
    ledger.deposit("sim", "BTC", D("0.5"), corr="gift", ts=3)  # unlotted: leaves first
    tx = ledger.transfer("sim", "wallet:alice", "BTC", D(2), corr="t", ts=4, ref="w-1")
    assert tx is not None
    # 0.5 unlotted BTC goes first, then 1.5 of lots, oldest first: all of lot-1, half of lot-2.
    assert [(m.lot_id, m.qty, m.cost) for m in tx.lots_out] == [
        ("lot-1", 1, 100),
        ("lot-2", D("0.5"), 60),
    ]
    assert ledger.balance("wallet:alice/asset:BTC") == 2
    assert ledger.unlotted("venue:sim/asset:BTC/wallet:main") == 0
    alice = ledger.position("wallet:alice", "BTC/USDT")
    assert alice is not None
    assert [(x.id, x.corr, x.qty, x.cost) for x in alice.lots] == [
        ("lot-1", "a", 1, 100),
        ("lot-2", "b", D("0.5"), 60),
    ]
    assert ledger.balance("trading:wallet:alice/instrument:BTC/USDT/asset:USDT") == 160
    assert ledger.balance("trading:sim/instrument:BTC/USDT/asset:USDT") == 60
    # Sent back, the wallet's unlotted half goes first, then half of lot-1, which is the oldest
    # again at the venue.
    ledger.transfer("wallet:alice", "sim", "BTC", D(1), corr="t2", ts=5)
    sim = ledger.position("sim", "BTC/USDT")
    assert sim is not None
    assert [(x.id, x.qty, x.cost) for x in sim.lots] == [
        ("lot-1", D("0.5"), 50),
        ("lot-2", D("0.5"), 60),
    ]
    with pytest.raises(LedgerError, match="needs two accounts"):
        ledger.transfer("sim", "sim", "BTC", D(1), corr="t3", ts=6)
    with pytest.raises(LedgerError, match="is a wallet outside any venue"):
        ledger.deposit("wallet:alice", "BTC", D(1), corr="x", ts=6, wallet="savings")
    ledger.audit()


def test_a_withdrawal_takes_its_lots_cost_out_of_the_books() -> None:
    ledger = _books()
    ledger.deposit("wallet:bob", "ETH", D(3), corr="ramp-1", ts=1, ref="ramp-1", cost=D(9_000))
    tx = ledger.withdraw("wallet:bob", "ETH", D(1), corr="out", ts=2, dest="chain", ref="tx-9")
    assert tx is not None and [m.qty for m in tx.lots_out] == [1]
    assert ledger.balance("external:chain/asset:ETH") == 1
    assert ledger.balance("basis:wallet:bob/instrument:ETH/USDT/asset:USDT") == -6_000
    ledger.charge_fee("wallet:bob", "ETH", D("0.01"), corr="gas", ts=3, ref="gas-1")
    assert ledger.balance("fees:wallet:bob/asset:USDT") == 30  # 0.01 ETH at its 3,000 cost
    ledger.audit()


def test_lots_are_not_spent_as_the_quote_of_a_cross_pair() -> None:
    ledger = _books()
    ledger.deposit("sim", "BTC", D(1), corr="b", ts=1, cost=D(100_000))
    with pytest.raises(LedgerError, match="insufficient unlotted funds in `venue:sim/asset:BTC"):
        ledger.apply_fill("sim", "ETH/BTC", "buy", D(1), D("0.03"), corr="x", fill_id="1", ts=2)
    ledger.deposit("sim", "BTC", D("0.05"), corr="b", ts=3)  # unlotted BTC may pay
    ledger.apply_fill("sim", "ETH/BTC", "buy", D(1), D("0.03"), corr="x", fill_id="1", ts=4)
    ledger.audit()


def test_state_stays_bounded_over_a_long_session() -> None:
    """Round trips leave no lots: the state's size does not grow with the number of fills."""
    ledger = Ledger(dedupe_window=50)
    ledger.deposit("sim", "USDT", D(10**9), corr="fund", ts=0)
    sizes = []
    for n in range(1, 3001):
        for side in ("buy", "sell"):
            ledger.apply_fill(
                "sim", "BTC/USDT", side, D("0.01"), D(100 + n % 7), D("0.001"), corr=f"c{n}",
                fill_id=f"{side}-{n}", ts=n,
            )  # fmt: skip
        if n in (300, 3000):
            sizes.append(len(msgspec.msgpack.encode(ledger.state)))
    assert len(ledger.state.fills) + len(ledger.state.fills_prev) <= 100
    assert ledger.state.tx_count == 6001 and ledger.state.trade_seq == 3000
    assert sizes[1] < sizes[0] * 1.05  # 10x the fills: amounts grow a digit or two, that is all
    state = msgspec.msgpack.decode(msgspec.msgpack.encode(ledger.state), type=LedgerState)
    assert state == ledger.state
