"""The ledger actor in the sim kernel: fills from the simulated venue become the books of record."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.venues.simulated import SimulatedVenue, SimulatedVenueConfig
from agents.data.messages import Bar
from agents.execution.actor import Execution
from agents.execution.ledger_actor import LedgerKeeper, LedgerKeeperConfig
from agents.execution.messages import Balances as VenueBalances
from agents.execution.messages import (
    CancelRejected,
    OrderFilled,
    ReconcileRequest,
    ReconciliationReport,
    RequestCancel,
)
from agents.risk.actor import RiskGate
from agents.risk.config import RiskGateConfig
from agents.risk.messages import OrderIntent
from runtime import (
    Actor,
    ActorSpec,
    Balances,
    BookDeposit,
    BookFee,
    BookTransfer,
    BookWithdrawal,
    EconomicSnapshotTaken,
    LedgerHistory,
    LedgerPosted,
    LedgerRefused,
    LedgerReport,
    Message,
    SimKernel,
)
from runtime._valuation import HOUR_NS

D = Decimal
MIN = 60 * 10**9
OPENING = {"sim": {"USDT": D(10_000), "BTC": D(1)}}
ALICE = "wallet:alice"


class Tape(Actor):
    """Keep every ledger message and fill, in arrival order, and the corr each came under."""

    def __init__(self) -> None:
        self.got: list[Message] = []
        self.corr: list[str] = []

    def on_start(self) -> None:
        for mtype in (Balances, EconomicSnapshotTaken, LedgerPosted, LedgerRefused, LedgerReport):
            self.ctx.subscribe(mtype)
        self.ctx.subscribe(OrderFilled)
        self.ctx.subscribe(VenueBalances)
        self.ctx.subscribe(ReconciliationReport)

    def on_any(self, msg: Message) -> None:
        env = self.ctx.current
        self.got.append(msg)
        self.corr.append(env.corr if env is not None else "")

    def of(self, mtype: type[Any]) -> list[Any]:
        return [m for m in self.got if isinstance(m, mtype)]


def desk(
    *, venue: dict[str, Any] | None = None, **keeper: Any
) -> tuple[SimKernel, LedgerKeeper, Tape]:
    """The order path with a ledger keeper: venue (relay), risk with balances, execution."""
    k = SimKernel(start_ns=0)
    vcfg = SimulatedVenueConfig(relay=True, **(venue or {}))
    k.add_actor(ActorSpec("sim", lambda: SimulatedVenue(vcfg)))
    risk = RiskGateConfig(balances={"sim": {"USDT": D(10_000), "BTC": D(1)}})
    k.add_actor(ActorSpec("risk", lambda: RiskGate(risk), role="risk"))
    k.add_actor(ActorSpec("execution", Execution, role="execution"))
    params = LedgerKeeperConfig(
        reserve=keeper.pop("reserve", True),
        balances=keeper.pop("balances", OPENING),
        cost_basis=keeper.pop("cost_basis", {"sim": {"BTC": D(100)}}),
        **keeper,
    )
    keeper_ = LedgerKeeper(params)
    keeper_.ledger.history = LedgerHistory()
    k.add_actor(ActorSpec("ledger", lambda: keeper_))
    tape = Tape()
    k.add_actor(ActorSpec("tape", lambda: tape))
    return k, keeper_, tape


def settle(k: SimKernel) -> None:
    """Run what is due now (the keeper's hourly timer would carry the clock on for ever)."""
    k.run(until_ns=k.now_ns())


def intent(n: int, side: str, qty: str, price: str) -> OrderIntent:
    return OrderIntent(
        client_id=f"s-{n}", strategy="s", venue="sim", instrument="BTC/USDT", side=side,  # type: ignore[arg-type]
        qty=D(qty), price=D(price),
    )  # fmt: skip


def bar(i: int, o: str, h: str, lo: str, c: str, v: str = "10") -> Bar:
    return Bar(
        instrument="BTC/USDT", start_ns=i * MIN, end_ns=(i + 1) * MIN, open=D(o), high=D(h),
        low=D(lo), close=D(c), volume=D(v), trades=0,
    )  # fmt: skip


def free(keeper: LedgerKeeper, asset: str) -> Decimal:
    return keeper.ledger.free(f"venue:sim/asset:{asset}/wallet:main")


def total(keeper: LedgerKeeper, asset: str) -> Decimal:
    return keeper.ledger.balance(f"venue:sim/asset:{asset}/wallet:main")


def test_fills_post_with_their_order_corr_and_balances_come_once_per_bar() -> None:
    k, keeper, tape = desk(venue={"volume_share": D("0.1")})
    settle(k)
    (opening,) = tape.of(Balances)
    assert opening.holder == "sim" and opening.assets["USDT"].total == 10_000
    k.emit_input("s", intent(1, "buy", "1.5", "105"), dst="risk", corr="signal-7", ts=MIN)
    settle(k)
    # Approved: the buy holds its notional and the fee bound (50 bps) until it fills.
    assert free(keeper, "USDT") == 10_000 - D("157.5") * D("1.005")
    for i in range(2, 5):
        k.emit_input("feed", bar(i, "100", "101", "99", "100", v="6"), dst="sim", ts=(i + 1) * MIN)
    settle(k)
    fills = keeper.state.fills
    assert fills == 3  # 0.6 + 0.6 + 0.3, one Balances after each bar, not after each fill
    assert len(tape.of(Balances)) == 1 + 3
    assert tape.of(VenueBalances) == []  # one message: execution reads the same `Balances`
    assert (
        total(keeper, "BTC") == D("2.5")
        and keeper.ledger.held("venue:sim/asset:USDT/wallet:main") == 0
    )
    spent = D("0.6") * 100 + D("0.9") * 105
    fees = (D("0.6") * 100 + D("0.9") * 105) * D("0.001")
    assert total(keeper, "USDT") == 10_000 - spent - fees
    trace = keeper.ledger.trace("signal-7")
    assert trace.orders == ("s-1",) and len(trace.fills) == 3 and len(trace.lots) == 3
    keeper.ledger.audit()


def test_a_fill_carries_its_orders_corr_and_the_lot_and_trade_trace_by_it() -> None:
    k, keeper, tape = desk(reserve=False)  # the backtests' default: the keeper reads fills only
    k.emit_input("s", intent(1, "buy", "0.5", "99"), dst="risk", corr="sig-buy", ts=MIN)
    settle(k)
    k.emit_input("feed", bar(2, "100", "100", "98", "99"), dst="sim", ts=3 * MIN)
    settle(k)
    k.emit_input("s", intent(2, "sell", "1.2", "101"), dst="risk", corr="sig-sell", ts=4 * MIN)
    settle(k)
    k.emit_input("feed", bar(5, "100", "102", "100", "101"), dst="sim", ts=6 * MIN)
    settle(k)
    # The venue reports each fill under its order's corr, not the corr of the bar that filled it.
    fills = [(m.client_id, c) for m, c in zip(tape.got, tape.corr, strict=True)
             if isinstance(m, OrderFilled)]  # fmt: skip
    assert fills == [("s-1", "sig-buy"), ("s-2", "sig-sell")]
    buy, sell = keeper.ledger.trace("sig-buy"), keeper.ledger.trace("sig-sell")
    assert buy.orders == ("s-1",) and len(buy.fills) == 1 and len(buy.lots) == 1
    (trade,) = sell.trades
    assert sell.orders == ("s-2",) and trade.corr == "sig-sell" and trade.order_id == "s-2"
    # The sell closed the opening lot first (FIFO), then 0.2 of the buy's lot, named by its corr.
    assert [(c.lot_corr, c.qty) for c in trade.closes] == [("opening", 1), ("sig-buy", D("0.2"))]
    assert [(c.lot_corr, c.qty) for c in buy.closed_by] == [("sig-buy", D("0.2"))]
    keeper.ledger.audit()


def test_a_refused_cancel_keeps_the_hold_and_the_fills_settle_it() -> None:
    k, keeper, tape = desk(venue={"volume_share": D("0.1")})
    k.emit_input("s", intent(1, "buy", "1", "100"), dst="risk", ts=MIN)
    settle(k)
    held = D(100) * D("1.005")
    assert keeper.ledger.held("venue:sim/asset:USDT/wallet:main") == held
    k.emit_input("feed", bar(2, "100", "100", "99", "100", v="4"), dst="sim", ts=3 * MIN)
    settle(k)  # 0.4 filled (40 and a fee of 0.04 spent from the hold), 0.6 rests
    left = held - D(40) - D("0.04")
    assert keeper.ledger.held("venue:sim/asset:USDT/wallet:main") == left
    # The venue could not confirm a cancel (a refused or unconfirmed cancel): the order is live.
    k.emit_input("sim", CancelRejected(client_id="s-1", strategy="s", venue="sim",
                                       instrument="BTC/USDT", code="CANCEL_UNCONFIRMED",
                                       detail="timed out"), ts=4 * MIN)  # fmt: skip
    settle(k)
    assert keeper.ledger.held("venue:sim/asset:USDT/wallet:main") == left
    assert free(keeper, "USDT") == total(keeper, "USDT") - left
    for i in (5, 6):  # the rest fills: the fills spend the hold, the last one ends it
        k.emit_input("feed", bar(i, "100", "100", "99", "100", v="3"), dst="sim", ts=(i + 1) * MIN)
        settle(k)
    assert [m.leaves_qty for m in tape.of(OrderFilled)] == [D("0.6"), D("0.3"), D(0)]
    assert keeper.ledger.state.holds == {} and free(keeper, "USDT") == total(keeper, "USDT")
    assert total(keeper, "BTC") == 2 and keeper.state.refused == 0
    keeper.ledger.audit()


def test_execution_reconciles_the_venue_against_the_ledgers_balances() -> None:
    k, keeper, tape = desk(venue={"balances": OPENING["sim"]}, reserve=False)
    k.emit_input("s", intent(1, "buy", "0.5", "99"), dst="risk", ts=MIN)
    settle(k)
    k.emit_input("feed", bar(2, "100", "100", "98", "99"), dst="sim", ts=3 * MIN)
    settle(k)
    k.emit_input("operator:test", ReconcileRequest(venue="sim", request_id=""), dst="execution",
                 ts=4 * MIN)  # fmt: skip
    settle(k)
    (report,) = tape.of(ReconciliationReport)
    assert report.balance_source == "ledger" and report.balances_checked
    assert report.balance_mismatches == [] and report.ok
    assert total(keeper, "BTC") == D("1.5")


def test_a_duplicate_fill_changes_nothing() -> None:
    k, keeper, tape = desk()
    k.emit_input("s", intent(1, "buy", "0.5", "99"), dst="risk", ts=MIN)
    settle(k)
    k.emit_input("feed", bar(2, "100", "100", "98", "99"), dst="sim", ts=3 * MIN)
    settle(k)
    (fill,) = tape.of(OrderFilled)
    before = msgspec.msgpack.encode(keeper.state.ledger)
    k.emit_input("sim", fill, ts=4 * MIN)  # the venue reports it again (a reconnect, a retry)
    settle(k)
    assert msgspec.msgpack.encode(keeper.state.ledger) == before
    assert (keeper.state.fills, keeper.state.duplicates) == (1, 1)


def test_cancels_release_holds_and_an_unbookable_fill_is_refused_not_fatal() -> None:
    k, keeper, tape = desk()
    k.emit_input("s", intent(1, "sell", "0.4", "120"), dst="risk", ts=MIN)
    settle(k)
    assert free(keeper, "BTC") == D("0.6")
    k.emit_input("s", RequestCancel(client_id="s-1", strategy="s"), dst="execution", ts=2 * MIN)
    settle(k)
    assert free(keeper, "BTC") == 1 and keeper.ledger.state.holds == {}
    # A venue reporting a sell of more than the books hold: refused, counted, nothing changes.
    bad = OrderFilled(
        client_id="x", strategy="s", venue="sim", instrument="BTC/USDT", fill_id="ghost",
        side="sell", qty=D(5), price=D(100), fee=D(0), fee_asset="USDT", liquidity="taker",
        leaves_qty=D(0),
    )  # fmt: skip
    k.emit_input("sim", bad, ts=3 * MIN)
    settle(k)
    (refused,) = tape.of(LedgerRefused)
    assert refused.ref == "sim/ghost" and "exceeds the open lots" in refused.reason
    assert keeper.state.refused == 1 and total(keeper, "BTC") == 1
    assert k.cells["ledger"].failures == 0


def test_hourly_snapshots_on_the_kernel_clock_and_the_report_at_stop() -> None:
    k, keeper, tape = desk()
    k.emit_input("feed", bar(1, "100", "100", "100", "100"), dst="sim", ts=2 * MIN)
    k.run(until_ns=HOUR_NS + 1)
    k.emit_input("feed", bar(70, "150", "150", "150", "150"), dst="sim", ts=71 * MIN)
    k.run(until_ns=5 * HOUR_NS)  # nothing happens after 71 min: no snapshot past the next hour
    snaps = [m.snapshot for m in tape.of(EconomicSnapshotTaken)]
    assert [s.ts for s in snaps] == [HOUR_NS, 2 * HOUR_NS]
    assert [s.equity for s in snaps] == [10_100, 10_150]  # 1 BTC marked at 100, then 150
    assert snaps[1].unrealized_pnl == 50 and snaps[1].exposure == 150
    k.stop()
    (report,) = tape.of(LedgerReport)
    assert report.snapshot is not None and report.snapshot.equity == 10_150
    assert report.holders["sim"]["BTC"].total == 1 and report.hourly_snapshots == 2
    assert report.transactions == 2 and report.head == keeper.ledger.state.tx_head.hex()
    (pos,) = report.positions
    assert (pos.instrument, pos.open_qty, pos.open_cost, pos.lots) == ("BTC/USDT", 1, 100, 1)


def test_wallet_movements_are_booked_answered_and_idempotent() -> None:
    k, keeper, tape = desk()
    settle(k)
    moves: list[Message] = [
        BookDeposit(ref="ramp-1", venue=ALICE, asset="BTC", amount=D("0.5"), cost=D(60)),
        BookTransfer(ref="dep-1", venue=ALICE, asset="BTC", amount=D("0.2"), to_venue="sim"),
        BookFee(ref="gas-1", venue=ALICE, asset="BTC", amount=D("0.001")),
        BookWithdrawal(ref="out-1", venue=ALICE, asset="BTC", amount=D("0.1"), dest="chain"),
        BookDeposit(ref="ramp-1", venue=ALICE, asset="BTC", amount=D("0.5"), cost=D(60)),
        BookWithdrawal(ref="out-2", venue=ALICE, asset="BTC", amount=D(9)),
    ]  # fmt: skip
    for i, m in enumerate(moves):
        k.emit_input("ramp", m, dst="ledger", ts=(i + 1) * MIN)
    settle(k)
    posted = tape.of(LedgerPosted)
    assert [(p.ref, p.kind, p.duplicate) for p in posted] == [
        ("ramp-1", "deposit", False),
        ("dep-1", "transfer", False),
        ("gas-1", "fee", False),
        ("out-1", "withdrawal", False),
        ("ramp-1", "deposit", True),
    ]
    (refused,) = tape.of(LedgerRefused)
    assert refused.ref == "out-2" and refused.reason.startswith("insufficient funds")
    alice = [b for b in tape.of(Balances) if b.holder == "wallet:alice"][-1]
    assert alice.assets["BTC"].total == D("0.199")
    assert total(keeper, "BTC") == D("1.2")
    lots = keeper.ledger.position("sim", "BTC/USDT")
    assert lots is not None and [x.id for x in lots.lots] == ["lot-1", "lot-2"]  # the ramp's lot
    keeper.ledger.audit()


def test_state_snapshots_restore_to_the_same_books() -> None:
    k, keeper, _ = desk()
    k.emit_input("s", intent(1, "buy", "0.5", "99"), dst="risk", ts=MIN)
    k.emit_input("s", intent(2, "sell", "0.2", "101"), dst="risk", ts=MIN)
    settle(k)
    k.emit_input("feed", bar(2, "100", "102", "98", "99"), dst="sim", ts=3 * MIN)
    settle(k)
    data = keeper.snapshot()
    assert data is not None
    twin = LedgerKeeper(keeper.params)
    twin.restore(data)
    assert twin.snapshot() == data
    assert twin.ledger.state is twin.state.ledger
    assert twin.ledger.holdings() == keeper.ledger.holdings()


# -- random order flow ---------------------------------------------------------------------------

orders = st.tuples(
    st.sampled_from(["buy", "sell"]),
    st.integers(1, 30).map(lambda n: D(n).scaleb(-2)),
    st.integers(95, 105).map(D),
)
bars = st.tuples(st.integers(94, 106).map(D), st.integers(1, 3).map(D))
# Each step may place an order, print a bar (that may fill resting orders) and cancel one.
steps = st.lists(
    st.tuples(st.none() | orders, st.none() | bars, st.none() | st.integers(0, 40)),
    min_size=1,
    max_size=30,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_random_orders_fills_and_cancels_keep_the_books(flow: list[tuple[Any, ...]]) -> None:
    """Through risk, execution and the venue (partial fills): never negative, never levered."""
    k, keeper, tape = desk(venue={"volume_share": D("0.5"), "lot": D("0.01")})
    n = 0
    for t, (order, print_, cancel) in enumerate(flow, start=1):
        ts = t * MIN
        if order is not None:
            n += 1
            side, qty, price = order
            k.emit_input("s", intent(n, side, str(qty), str(price)), dst="risk", ts=ts)
            settle(k)
        if print_ is not None:
            c, v = print_
            k.emit_input("feed", bar(t, str(c), str(c + 2), str(c - 2), str(c), str(v)),
                         dst="sim", ts=ts + 1)  # fmt: skip
        if cancel is not None and n:
            k.emit_input("s", RequestCancel(client_id=f"s-{cancel % n + 1}", strategy="s"),
                         dst="execution", ts=ts + 2)  # fmt: skip
        settle(k)
        ledger = keeper.ledger
        for account in ledger.holdings():
            assert ledger.free(account) >= 0
        if keeper.state.marks:
            snap = ledger.snapshot(keeper.state.marks, ts=ts)
            assert 0 <= snap.exposure <= snap.equity
    k.stop()
    keeper.ledger.audit()  # every transaction balanced, from the first
    assert keeper.state.refused == 0  # risk never let through what the books cannot pay
    (report,) = tape.of(LedgerReport)
    assert report.fills == keeper.state.fills


def test_params_are_checked_at_start() -> None:
    with pytest.raises(ValueError, match=r"`cost_basis.sim.ETH` has no opening balance"):
        LedgerKeeperConfig(balances={"sim": {"BTC": D(1)}}, cost_basis={"sim": {"ETH": D(1)}})
    with pytest.raises(ValueError, match=r"the numeraire `USDT` takes no cost basis"):
        LedgerKeeperConfig(balances={"sim": {"USDT": D(1)}}, cost_basis={"sim": {"USDT": D(1)}})
    with pytest.raises(ValueError, match=r"`balances.sim.BTC` must be >= 0"):
        LedgerKeeperConfig(balances={"sim": {"BTC": D(-1)}})
