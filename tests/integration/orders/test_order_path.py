"""The order path in the sim kernel: risk -> execution -> simulated venue -> fills; kill switch."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.venues.simulated import SimulatedVenue, SimulatedVenueConfig
from agents.data.messages import Bar
from agents.execution.actor import Execution
from agents.execution.messages import (
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    RequestCancel,
    VenueEvent,
)
from agents.execution.orders import TERMINAL, TRANSITIONS, IllegalTransitionError, Order
from agents.risk.actor import RiskGate
from agents.risk.messages import OrderIntent, SetTradingState
from runtime import Actor, ActorSpec, Message, SimKernel

D = Decimal
MIN = 60 * 10**9


class Tape(Actor):
    """Keep every venue event and bar, in arrival order."""

    def __init__(self) -> None:
        self.got: list[Message] = []

    def on_start(self) -> None:
        self.ctx.subscribe(VenueEvent)
        self.ctx.subscribe(Bar)

    def on_any(self, msg: Message) -> None:
        self.got.append(msg)


def bar(i: int, o: str, h: str, lo: str, c: str, v: str = "10") -> Bar:
    return Bar(
        instrument="BTC/USDT", start_ns=i * MIN, end_ns=(i + 1) * MIN, open=D(o), high=D(h),
        low=D(lo), close=D(c), volume=D(v), trades=0,
    )  # fmt: skip


def path(**venue: Any) -> tuple[SimKernel, Tape, Execution]:
    k = SimKernel(start_ns=0)
    k.add_actor(ActorSpec("sim", lambda: SimulatedVenue(SimulatedVenueConfig(relay=True, **venue))))
    k.add_actor(ActorSpec("risk", RiskGate, role="risk"))
    ex = Execution()
    k.add_actor(ActorSpec("execution", lambda: ex, role="execution"))
    tape = Tape()
    k.add_actor(ActorSpec("tape", lambda: tape))
    return k, tape, ex


def intent(n: int, side: str, qty: str, price: str | None) -> OrderIntent:
    return OrderIntent(
        client_id=f"s-{n}", strategy="s", venue="sim", instrument="BTC/USDT", side=side,  # type: ignore[arg-type]
        qty=D(qty), price=None if price is None else D(price),
    )  # fmt: skip


def test_a_resting_limit_fills_when_a_later_bar_trades_through_it_with_its_fee() -> None:
    k, tape, ex = path()
    k.emit_input("s", intent(1, "buy", "0.5", "99.00"), dst="risk")
    k.run()
    assert [type(m) for m in tape.got] == [OrderAccepted]
    k.emit_input("feed", bar(1, "100", "101", "99.50", "100"), dst="sim")  # never reaches 99
    k.emit_input("feed", bar(2, "100", "100", "98.90", "99.5"), dst="sim")
    k.run()
    fills = [m for m in tape.got if isinstance(m, OrderFilled)]
    assert len(fills) == 1
    f = fills[0]
    assert (f.qty, f.price, f.liquidity, f.leaves_qty) == (D("0.5"), D("99.00"), "maker", 0)
    assert f.fee == D("0.5") * D("99.00") * D("0.001")
    # With relay, the fill reaches subscribers before the bar that caused it.
    i = tape.got.index(f)
    assert isinstance(tape.got[i + 1], Bar) and tape.got[i + 1].start_ns == 2 * MIN
    assert ex.state.open == {} and ex.state.filled == 1


def test_a_marketable_limit_takes_at_the_open_and_volume_share_splits_fills() -> None:
    k, tape, _ = path(volume_share=D("0.1"))
    k.emit_input("s", intent(1, "buy", "1.5", "105"), dst="risk")
    k.run()
    for i in range(1, 4):
        k.emit_input("feed", bar(i, "100", "101", "99", "100", v="6"), dst="sim")
    k.run()
    fills = [m for m in tape.got if isinstance(m, OrderFilled)]
    assert [f.qty for f in fills] == [D("0.6"), D("0.6"), D("0.3")]
    assert fills[0].liquidity == "taker" and fills[0].price == D("100")
    assert all(f.liquidity == "maker" and f.price == D("105") for f in fills[1:])
    assert sum(f.qty for f in fills) == D("1.5") and fills[-1].leaves_qty == 0


@pytest.mark.parametrize(("latency_ms", "fills_on"), [(0.0, 1), (5.0, 2)])
def test_latency_keeps_an_order_out_of_the_bar_already_open(
    latency_ms: float, fills_on: int
) -> None:
    k, tape, _ = path(latency_ms=latency_ms)
    k.emit_input("s", intent(1, "buy", "1", "100"), dst="risk", ts=MIN)  # active at 1 min + 5 ms
    k.run()
    k.emit_input("feed", bar(1, "99", "99", "99", "99"), dst="sim", ts=2 * MIN)  # opened at 1 min
    k.emit_input("feed", bar(2, "99", "99", "99", "99"), dst="sim", ts=3 * MIN)
    k.run()
    fills = [m for m in tape.got if isinstance(m, OrderFilled)]
    assert len(fills) == 1 and fills[0].price == D("99")  # at an open, as taker
    after = tape.got[tape.got.index(fills[0]) + 1]
    assert isinstance(after, Bar) and after.start_ns == fills_on * MIN  # with latency: bar 2


def test_cancel_then_late_cancel_and_duplicates_are_harmless() -> None:
    k, tape, ex = path()
    k.emit_input("s", intent(1, "sell", "1", "110"), dst="risk")
    k.emit_input("s", intent(1, "sell", "1", "110"), dst="risk")  # the same client id again
    k.run()
    assert sum(isinstance(m, OrderAccepted) for m in tape.got) == 1
    k.emit_input("s", RequestCancel(client_id="s-1", strategy="s"), dst="execution")
    k.run()
    assert [m.leaves_qty for m in tape.got if isinstance(m, OrderCanceled)] == [D(1)]
    assert ex.state.open == {} and ex.state.canceled == 1
    # A cancel the venue no longer holds: refused with a code, no state changes.
    k.emit_input("execution", _cancel("s-1"), dst="sim")
    k.run()
    rejected = [m for m in tape.got if isinstance(m, CancelRejected)]
    assert [m.code for m in rejected] == ["ORDER_NOT_OPEN"]


def _cancel(client_id: str) -> Message:
    from agents.execution.messages import CancelOrder

    return CancelOrder(client_id=client_id, strategy="s", venue="sim", instrument="BTC/USDT")


def test_the_kill_switch_denies_new_orders_and_cancels_open_ones() -> None:
    k, tape, ex = path()
    k.emit_input("s", intent(1, "buy", "1", "90"), dst="risk")
    k.emit_input("s", intent(2, "sell", "1", "110"), dst="risk")
    k.run()
    assert len(ex.state.open) == 2
    k.emit_input(
        "operator:test",
        SetTradingState(scope="global", state="HALTED", reason="drill", by="test"),
    )
    k.emit_input("s", intent(3, "buy", "1", "95"), dst="risk")
    k.run()
    assert sorted(m.client_id for m in tape.got if isinstance(m, OrderCanceled)) == ["s-1", "s-2"]
    assert "s-3" not in {m.client_id for m in tape.got}  # denied: never reached the venue
    assert ex.state.open == {}


EVENTS = sorted({e for moves in TRANSITIONS.values() for e in moves})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(EVENTS), max_size=12))
def test_order_states_follow_the_table_and_terminal_states_are_final(events: list[str]) -> None:
    order = Order(
        client_id="c", strategy="s", venue="v", instrument="X", side="buy", qty=D(1), price=D(1)
    )
    for event in events:
        before = order.status
        allowed = TRANSITIONS[before].get(event)
        if allowed is None:
            with pytest.raises(IllegalTransitionError):
                order.apply(event)  # type: ignore[arg-type]
            assert order.status == before  # a refused event changes nothing
        else:
            order.apply(event)  # type: ignore[arg-type]
            assert before not in TERMINAL


def test_trades_and_quotes_fill_resting_limits_at_their_price() -> None:
    from agents.data.messages import Quote, Trade

    k, tape, _ = path()
    k.emit_input("s", intent(1, "buy", "2", "99"), dst="risk", ts=MIN)
    k.emit_input("s", intent(2, "sell", "1", "101"), dst="risk", ts=MIN)
    k.run()
    # Arrival: neither is marketable against the first print, so both rest.
    k.emit_input(
        "feed", Trade(instrument="BTC/USDT", price=D(100), size=D(5)), dst="sim", ts=2 * MIN
    )
    k.emit_input(
        "feed", Trade(instrument="BTC/USDT", price=D("98.5"), size=D(5)), dst="sim", ts=3 * MIN
    )
    k.emit_input(
        "feed",
        Quote(instrument="BTC/USDT", bid=D(101), bid_size=D(3), ask=D("101.5"), ask_size=D(3)),
        dst="sim",
        ts=4 * MIN,
    )
    k.run()
    fills = {m.client_id: m for m in tape.got if isinstance(m, OrderFilled)}
    assert (fills["s-1"].qty, fills["s-1"].price, fills["s-1"].liquidity) == (D(2), D(99), "maker")
    assert (fills["s-2"].price, fills["s-2"].liquidity) == (D(101), "maker")
