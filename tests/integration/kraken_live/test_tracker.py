"""The tracker turns repeating, reordered Kraken reports into each venue event exactly once."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.venues.kraken import KrakenFillReport, KrakenOrderReport, KrakenTracker
from agents.execution.messages import (
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    VenueEvent,
)
from runtime import Actor, ActorSpec, Message, SimKernel

D = Decimal


class Tape(Actor):
    """Keep every venue event, and the corr it came with."""

    def __init__(self) -> None:
        self.got: list[Message] = []
        self.corrs: list[str] = []

    def on_start(self) -> None:
        self.ctx.subscribe(VenueEvent)

    def on_event(self, msg: VenueEvent) -> None:
        self.got.append(msg)
        env = self.ctx.current
        self.corrs.append(env.corr if env is not None else "")


def kernel() -> tuple[SimKernel, Tape, KrakenTracker]:
    k = SimKernel(start_ns=0)
    tracker = KrakenTracker()
    k.add_actor(ActorSpec("kraken_orders", lambda: tracker))
    tape = Tape()
    k.add_actor(ActorSpec("tape", lambda: tape))
    return k, tape, tracker


def opened(cl: str = "s-1", qty: str = "1") -> KrakenOrderReport:
    return KrakenOrderReport(
        venue="kraken", cl_ord_id=cl, status="open", venue_order_id=f"O-{cl}", client_id=cl,
        strategy="s", instrument="BTC/USDT", side="buy", qty=D(qty), price=D("100"),
    )  # fmt: skip


def fill(tid: str, qty: str, cl: str = "s-1") -> KrakenFillReport:
    return KrakenFillReport(
        venue="kraken", cl_ord_id=cl, venue_order_id=f"O-{cl}", trade_id=tid, qty=D(qty),
        price=D("100"), fee=D("0.25"), fee_asset="USDT", liquidity="maker", ts_ns=1,
    )  # fmt: skip


def ended(status: str, filled: str, cl: str = "s-1") -> KrakenOrderReport:
    return KrakenOrderReport(
        venue="kraken",
        cl_ord_id=cl,
        status=status,  # type: ignore[arg-type]
        venue_order_id=f"O-{cl}",
        filled=D(filled),
    )


def feed(k: SimKernel, *msgs: Message) -> None:
    for msg in msgs:
        k.emit_input("kraken", msg, corr="sig-1" if msg is msgs[0] else "")
    k.run()


def test_a_cancel_reported_before_its_last_fill_waits_for_it() -> None:
    k, tape, tracker = kernel()
    feed(k, opened(qty="1"), fill("T1", "0.25"), ended("canceled", "0.5"), fill("T1", "0.25"))
    assert [type(m) for m in tape.got] == [OrderAccepted, OrderFilled]
    feed(k, fill("T2", "0.25"), fill("T2", "0.25"), ended("canceled", "0.5"))
    assert [type(m) for m in tape.got] == [OrderAccepted, OrderFilled, OrderFilled, OrderCanceled]
    cancel = tape.got[-1]
    assert isinstance(cancel, OrderCanceled) and cancel.leaves_qty == D("0.5")
    # The repeated T1 is a duplicate; the repeats after the end meet no order, ignored.
    assert tracker.state.orders == {}
    assert (tracker.state.duplicates, tracker.state.ignored) == (1, 2)


def test_refusals_unknown_orders_and_a_repeated_open_change_nothing_twice() -> None:
    k, tape, tracker = kernel()
    rejected = KrakenOrderReport(
        venue="kraken", cl_ord_id="s-2", status="rejected", client_id="s-2", strategy="s",
        instrument="BTC/USDT", code="INSUFFICIENT_FUNDS", detail="EOrder:Insufficient funds",
    )  # fmt: skip
    feed(k, opened(), opened(), rejected, fill("T9", "1", cl="someone-else"))
    feed(k, ended("canceled", "0", cl="someone-else"))
    refused = KrakenOrderReport(
        venue="kraken", cl_ord_id="s-1", status="cancel_rejected", code="ORDER_NOT_OPEN"
    )
    feed(k, refused, KrakenOrderReport(venue="other", cl_ord_id="s-1", status="canceled"))
    assert [type(m) for m in tape.got] == [OrderAccepted, OrderRejected, CancelRejected]
    assert tracker.state.ignored == 2 and tracker.state.duplicates == 1
    assert list(tracker.state.orders) == ["s-1"]


def test_events_carry_the_corr_of_the_order_they_belong_to() -> None:
    k, tape, _ = kernel()
    k.emit_input("kraken", opened(), corr="signal-7")
    k.emit_input("kraken", fill("T1", "1"))  # a poll's report: no corr of its own
    k.run()
    assert [type(m) for m in tape.got] == [OrderAccepted, OrderFilled]
    assert tape.corrs == ["signal-7", "signal-7"]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[str], Decimal, list[Message]]:
    """An order, its fills and its end, reported in any order and repeated."""
    parts = draw(st.lists(st.integers(1, 5), max_size=6))
    qty = D(sum(parts) + draw(st.integers(0 if parts else 1, 3)))
    fills = [fill(f"T{i}", str(p)) for i, p in enumerate(parts)]
    reports: list[Message] = [*fills]
    if fills:
        reports += draw(st.lists(st.sampled_from(fills), max_size=6))
    end = "canceled" if sum(parts) < qty else "closed"  # Kraken says `closed` when filled
    reports += [ended(end, str(sum(parts)))] * draw(st.integers(1, 3))
    return [f.trade_id for f in fills], qty, [opened(qty=str(qty)), *draw(st.permutations(reports))]


@settings(max_examples=150, deadline=None)
@given(histories())
def test_each_fill_once_and_the_end_after_every_fill(
    history: tuple[list[str], Decimal, list[Message]],
) -> None:
    trade_ids, qty, reports = history
    k, tape, tracker = kernel()
    feed(k, *reports)
    feed(k, *reports)  # the whole history again: it adds nothing
    kinds = [type(m) for m in tape.got]
    fills = [m for m in tape.got if isinstance(m, OrderFilled)]
    assert kinds[0] is OrderAccepted and kinds.count(OrderAccepted) == 1
    assert sorted(f.fill_id for f in fills) == sorted(trade_ids)
    running = [qty - sum((f.qty for f in fills[: i + 1]), D(0)) for i in range(len(fills))]
    assert [f.leaves_qty for f in fills] == running
    ends = [m for m in tape.got if isinstance(m, OrderCanceled)]
    left = qty - sum((f.qty for f in fills), D(0))
    if left:
        assert len(ends) == 1 and tape.got[-1] is ends[0], "the end comes once, after every fill"
        assert ends[0].leaves_qty == left
    else:
        assert ends == [] and fills[-1].leaves_qty == 0
    assert tracker.state.orders == {}, "an ended order leaves the state"
