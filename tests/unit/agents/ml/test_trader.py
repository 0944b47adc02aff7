"""`Trader`, the base of strategies, on the real order path: risk gate, execution, simulated
venue and ledger keeper in a SimKernel. Corr from order to ledger trade, `reduce_only` through the
gate while REDUCING, and `replace`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import pytest

from adapters.venues.simulated import SimulatedVenue, SimulatedVenueConfig
from agents.data.messages import Bar
from agents.execution.actor import Execution
from agents.execution.ledger_actor import LedgerKeeper, LedgerKeeperConfig
from agents.execution.messages import OrderAccepted, OrderCanceled, OrderFilled
from agents.ml.trader import Trader, TraderConfig, TraderState
from agents.risk.actor import RiskGate
from agents.risk.config import RiskGateConfig
from agents.risk.messages import OrderApproved, OrderDenied, SetTradingState
from runtime import Actor, ActorSpec, LedgerHistory, Message, SimKernel

D = Decimal
MIN = 60 * 10**9
OPENING = {"sim": {"USDT": D(10_000), "BTC": D(1)}}


class Do(Message, frozen=True, kw_only=True, tag="test.trader.Do"):
    """Tell the test strategy to submit or replace an order."""

    action: str = "submit"
    side: str = "buy"
    qty: Decimal = D(1)
    price: Decimal | None = D(99)
    reduce_only: bool = False
    client_id: str = ""
    """The order to replace."""


class Strategy(Trader):
    """Submit or replace when told; optionally answer each fill with an order the other way."""

    Params = TraderConfig

    def __init__(self, *, hedge: bool = False) -> None:
        self.params = TraderConfig()
        self.state = TraderState()
        self.hedge = hedge
        self.ids: list[str] = []

    def on_do(self, msg: Do) -> None:
        if msg.action == "replace":
            self.ids.append(self.replace(msg.client_id, msg.qty, msg.price))
        else:
            side: Literal["buy", "sell"] = "buy" if msg.side == "buy" else "sell"
            self.ids.append(self.submit(side, msg.qty, msg.price, reduce_only=msg.reduce_only))

    def after_fill(self, msg: OrderFilled) -> None:
        if self.hedge and msg.side == "buy":
            self.ids.append(self.submit("sell", msg.qty, msg.price + 2))


class Tape(Actor):
    """Keep approvals, denials and venue events, with the corr each came under."""

    def __init__(self) -> None:
        self.got: list[tuple[str, Message]] = []

    def on_start(self) -> None:
        for mtype in (OrderApproved, OrderDenied, OrderAccepted, OrderCanceled, OrderFilled):
            self.ctx.subscribe(mtype)

    def on_any(self, msg: Message) -> None:
        env = self.ctx.current
        self.got.append((env.corr if env is not None else "", msg))

    def of(self, mtype: type[Any]) -> list[tuple[str, Any]]:
        return [(c, m) for c, m in self.got if isinstance(m, mtype)]


class Desk:
    def __init__(self, *, hedge: bool = False) -> None:
        self.k = k = SimKernel(start_ns=0)
        k.add_actor(ActorSpec("sim", lambda: SimulatedVenue(SimulatedVenueConfig(relay=True))))
        risk = RiskGateConfig(balances=OPENING)
        k.add_actor(ActorSpec("risk", lambda: RiskGate(risk), role="risk"))
        k.add_actor(ActorSpec("execution", Execution, role="execution"))
        self.keeper = LedgerKeeper(
            LedgerKeeperConfig(balances=OPENING, cost_basis={"sim": {"BTC": D(100)}})
        )
        self.keeper.ledger.history = LedgerHistory()
        k.add_actor(ActorSpec("ledger", lambda: self.keeper))
        self.strategy = Strategy(hedge=hedge)
        k.add_actor(ActorSpec("s", lambda: self.strategy))
        self.tape = Tape()
        k.add_actor(ActorSpec("tape", lambda: self.tape))
        self.t = 0

    def send(self, msg: Message, /, *, to: str = "s", corr: str = "") -> None:
        self.t += MIN
        self.k.emit_input("test", msg, dst=to, corr=corr, ts=self.t)
        self.k.run(until_ns=self.t)

    def bar(self, low: str, high: str) -> None:
        self.t += MIN
        b = Bar(instrument="BTC/USDT", start_ns=self.t, end_ns=self.t + MIN, open=D(100),
                high=D(high), low=D(low), close=D(100), volume=D(100), trades=0)  # fmt: skip
        self.k.emit_input("feed", b, dst="sim", ts=self.t)
        self.k.run(until_ns=self.t)


def test_each_order_traces_by_one_corr_from_intent_to_fill_lot_and_trade() -> None:
    desk = Desk(hedge=True)
    desk.send(Do(side="buy", qty=D("0.5"), price=D(99)))  # no corr given or inherited
    desk.send(Do(side="buy", qty=D("0.2"), price=D(98)), corr="signal-9")  # a signal's corr
    desk.bar("97", "100")  # both buys fill; each fill makes the strategy sell it at +2
    desk.bar("100", "102")  # the two sells fill
    buy, signal, hedge1, hedge2 = desk.strategy.ids
    approved = {m.intent.client_id: c for c, m in desk.tape.of(OrderApproved)}
    assert approved == {buy: buy, signal: "signal-9", hedge1: hedge1, hedge2: hedge2}
    # Every fill comes under its order's corr, never the bar's or the fill that prompted it.
    assert [(m.client_id, c) for c, m in desk.tape.of(OrderFilled)] == [
        (buy, buy), (signal, "signal-9"), (hedge1, hedge1), (hedge2, hedge2)
    ]  # fmt: skip
    ledger = desk.keeper.ledger
    lot = ledger.trace(buy)
    assert lot.orders == (buy,) and len(lot.lots) == 1 and lot.trades == ()
    (trade,) = ledger.trace(hedge1).trades
    assert trade.order_id == hedge1 and trade.qty == D("0.5")
    assert [c.lot_corr for c in trade.closes] == ["opening"]  # FIFO: the opening BTC sells first
    assert len(ledger.trace("signal-9").lots) == 1
    ledger.audit()


def test_reduce_only_orders_that_shrink_the_position_pass_while_reducing() -> None:
    desk = Desk()
    desk.send(SetTradingState(scope="global", state="REDUCING", reason="test", by="op"), to="risk")
    desk.send(Do(side="sell", qty=D("0.6"), price=D(101), reduce_only=True))
    desk.send(Do(side="sell", qty=D("0.1"), price=D(101)))  # not marked reduce-only
    desk.send(Do(side="buy", qty=D("0.1"), price=D(99), reduce_only=True))  # spot: grows it
    desk.send(Do(side="sell", qty=D("0.5"), price=D(101), reduce_only=True))  # 0.4 BTC free
    sold, unmarked, buy, too_much = desk.strategy.ids
    assert [m.intent.client_id for _, m in desk.tape.of(OrderApproved)] == [sold]
    assert [m.intent.reduce_only for _, m in desk.tape.of(OrderApproved)] == [True]
    assert [(m.client_id, m.code) for _, m in desk.tape.of(OrderDenied)] == [
        (unmarked, "REDUCING_ONLY"), (buy, "REDUCING_POSITION"), (too_much, "NO_LEVERAGE_POSITION")
    ]  # fmt: skip
    assert desk.strategy.state.open == {sold: "sell"} and desk.strategy.state.denied == 3
    desk.bar("100", "102")
    assert desk.strategy.state.position == D("-0.6") and desk.strategy.state.open == {}


def test_replace_moves_an_open_order_and_keeps_its_side_and_corr() -> None:
    desk = Desk()
    desk.send(Do(side="buy", qty=D(1), price=D(95)), corr="signal-1")
    desk.send(Do(action="replace", client_id="s-1", qty=D("0.5"), price=D(97)))
    old, new = desk.strategy.ids
    assert [(c, m.client_id) for c, m in desk.tape.of(OrderCanceled)] == [("signal-1", old)]
    approved = [(c, m.intent) for c, m in desk.tape.of(OrderApproved)]
    assert [(c, i.client_id, i.side, i.qty, i.price, i.replaces) for c, i in approved] == [
        ("signal-1", old, "buy", 1, 95, ""), ("signal-1", new, "buy", D("0.5"), 97, old)
    ]  # fmt: skip
    assert desk.strategy.state.open == {new: "buy"}
    desk.bar("96", "100")  # reaches 97, not 95: only the replacement fills
    assert [(m.client_id, m.price) for _, m in desk.tape.of(OrderFilled)] == [(new, 97)]
    assert desk.strategy.state.position == D("0.5") and desk.strategy.state.open == {}
    with pytest.raises(KeyError):
        desk.strategy.replace("s-404", D(1), D(1))
