"""Cancel/replace: through the risk gate as a modify, the new order only once the old is done,
smaller by what the old filled meanwhile, and never both at once."""

from __future__ import annotations

from decimal import Decimal

from adapters.venues.simulated import SimulatedVenueConfig
from agents.execution.messages import (
    CancelOrder,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    SubmitOrder,
)
from agents.risk.config import RateLimitConfig, RiskGateConfig
from agents.risk.messages import OrderDenied, OrderIntent, SetTradingState
from tests.unit.agents.execution.rig import Rig

D = Decimal


def test_a_replace_cancels_the_old_order_then_places_the_new_one() -> None:
    rig = Rig()
    old = rig.submit(1, qty="1", price="99")
    rig.replace(old, "s-2", qty="1", price="98.5")
    assert rig.order(old) is None
    assert [c.client_id for c in rig.events(OrderCanceled)] == [old]
    new = rig.order("s-2")
    assert new is not None and new.status == "ACCEPTED" and new.price == D("98.5")
    # The cancel reached the venue before the new order: never both resting.
    kinds = [(type(m).__name__, m.client_id) for m in rig.venue.inbox]  # type: ignore[attr-defined]
    assert kinds == [("SubmitOrder", "s-1"), ("CancelOrder", "s-1"), ("SubmitOrder", "s-2")]
    assert rig.ex.state.replaced == 1


def test_the_gate_sees_a_modify_and_throttles_it() -> None:
    risk = RiskGateConfig(modify_rate=RateLimitConfig(count=1, window_ms=60_000))
    rig = Rig(risk=risk)
    old = rig.submit(1)
    rig.replace(old, "s-2", qty="1", price="98")
    rig.replace("s-2", "s-3", qty="1", price="97")  # a second modify in the window
    assert [d.code for d in rig.events(OrderDenied)] == ["RATE_MODIFY"]
    # The refused modify leaves the order as it was, and replaceable later.
    order = rig.order("s-2")
    assert order is not None and order.status == "ACCEPTED" and order.replaced_by == ""
    assert "s-3" not in {m.client_id for m in rig.sent(SubmitOrder)}
    assert rig.ex.state.replacing == {}


def test_a_fill_on_the_old_order_during_the_replace_shrinks_the_new_one() -> None:
    rig = Rig(venue=SimulatedVenueConfig(relay=True, volume_share=D("0.1")))
    old = rig.submit(1, qty="2", price="99")
    rig.venue.script.append("lose_cancel")  # the cancel does not arrive: the old order rests on
    rig.replace(old, "s-2", qty="2", price="98")
    assert rig.order(old).status == "CANCEL_PENDING"  # type: ignore[union-attr]
    assert rig.order("s-2").status == "NEW"  # type: ignore[union-attr]
    rig.bar(low="98.9", high="100", volume="5")  # 10% of 5: the old order fills 0.5
    assert rig.filled(old) == D("0.5")
    rig.advance(5_000)  # cancel timeout: query, still open, cancel again, cancelled
    assert rig.order(old) is None
    new = rig.order("s-2")
    assert new is not None and new.qty == D("1.5") and new.status == "ACCEPTED"
    assert [s.qty for s in rig.sent(SubmitOrder, "s-2")] == [D("1.5")]


def test_the_old_order_filling_completely_means_no_new_order() -> None:
    rig = Rig(risk=RiskGateConfig(balances={"sim": {"USDT": D(1_000)}}))
    old = rig.submit(1, qty="2", price="99")
    rig.venue.script.append("lose_cancel")
    rig.replace(old, "s-2", qty="1", price="98")
    rig.bar(low="98", high="100")  # the old order fills entirely while its cancel is lost
    assert rig.order(old) is None and rig.filled(old) == D(2)
    rejected = rig.events(OrderRejected, "s-2")
    assert [r.code for r in rejected] == ["EXEC_REPLACE_FILLED"]
    assert rig.sent(SubmitOrder, "s-2") == []
    # The gate released what it had reserved for the replacement.
    gate = rig.k.actor("risk")
    assert "s-2" not in gate.state.book.orders  # type: ignore[attr-defined]
    rig.advance(60_000)
    assert rig.order("s-2") is None


def test_a_partial_fill_before_the_replace_is_not_taken_off_the_new_order() -> None:
    rig = Rig(venue=SimulatedVenueConfig(relay=True, volume_share=D("0.1")))
    old = rig.submit(1, qty="2", price="99")
    rig.bar(low="98", high="100", volume="5")  # 0.5 fills before the replace
    assert rig.filled(old) == D("0.5")
    rig.replace(old, "s-2", qty="1.5", price="98")
    new = rig.order("s-2")
    assert new is not None and new.qty == D("1.5") and new.status == "ACCEPTED"


def test_illegal_replaces_are_refused_with_a_code_and_change_nothing() -> None:
    rig = Rig()
    rig.replace("nope", "s-9", qty="1", price="98")
    old = rig.submit(1)
    rig.venue.script.append("lose_cancel")
    rig.cancel(old)  # CANCEL_PENDING: a replace now would race the cancel
    rig.replace(old, "s-8", qty="1", price="98")
    other = rig.submit(2)
    rig.venue.script.append("lose_cancel")
    rig.replace(other, "s-3", qty="1", price="98")
    rig.replace(other, "s-4", qty="1", price="97")  # one replace at a time
    rig.replace("s-3", "s-5", qty="1", price="97")  # a held replacement cannot be replaced
    rig.replace(old, other, qty="1", price="97")  # the new client id is taken
    codes = [(r.client_id, r.code) for r in rig.events(OrderRejected)]
    assert codes == [
        ("s-9", "EXEC_REPLACE_NOT_OPEN"),
        ("s-8", "EXEC_REPLACE_ILLEGAL"),
        ("s-4", "EXEC_REPLACE_PENDING"),
        ("s-5", "EXEC_REPLACE_ILLEGAL"),
    ]  # and the taken id is only logged: a rejection under it would end the live `s-2`
    assert {m.client_id for m in rig.sent(SubmitOrder)} == {"s-1", "s-2"}
    assert rig.ex.state.replace_refused == 5
    assert rig.order(old).status == "CANCEL_PENDING"  # type: ignore[union-attr]
    assert rig.order(other).replaced_by == "s-3"  # type: ignore[union-attr]
    assert rig.order(other).status == "CANCEL_PENDING"  # type: ignore[union-attr]


def test_cancelling_a_replacement_that_waits_ends_it_unsent() -> None:
    rig = Rig()
    old = rig.submit(1)
    rig.venue.script.append("lose_cancel")
    rig.replace(old, "s-2", qty="1", price="98")
    rig.cancel("s-2")
    assert rig.order("s-2") is None
    assert [c.client_id for c in rig.events(OrderCanceled)] == ["s-2"]
    rig.advance(10_000)  # the old order's cancel is retried and confirmed
    assert rig.order(old) is None
    assert rig.sent(SubmitOrder, "s-2") == []


def test_the_kill_switch_during_a_replace_places_neither_order() -> None:
    rig = Rig()
    old = rig.submit(1)
    rig.venue.script.append("lose_cancel")
    rig.replace(old, "s-2", qty="1", price="98")
    rig.k.emit_input(
        "operator:test", SetTradingState(scope="global", state="HALTED", reason="drill", by="t")
    )
    rig.settle()
    rig.advance(10_000)
    assert rig.ex.state.open == {}
    assert rig.sent(SubmitOrder, "s-2") == []
    assert {c.client_id for c in rig.events(OrderCanceled)} == {"s-1", "s-2"}


def test_an_intent_with_replaces_sent_straight_to_the_gate_replaces_too() -> None:
    rig = Rig()
    old = rig.submit(1, qty="1", price="99")
    rig.k.emit_input(
        "s",
        OrderIntent(
            client_id="s-2",
            strategy="s",
            venue="sim",
            instrument="BTC/USDT",
            side="buy",
            qty=D(1),
            price=D(98),
            replaces=old,
        ),
        dst="risk",
    )
    rig.settle()
    assert rig.order(old) is None and rig.order("s-2").status == "ACCEPTED"  # type: ignore[union-attr]
    assert [m.client_id for m in rig.sent(CancelOrder)] == [old]
    assert len(rig.events(OrderAccepted, "s-2")) == 1
